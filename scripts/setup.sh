#!/usr/bin/env bash
# Create .venv (if needed) and install the core, the drivers, the test tools ([test]) and
# the development tools CI runs ([dev]: coverage, ruff, mypy, type stubs) into it.
# Idempotent: a second run only checks that nothing changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
shopt -s nullglob
projects=(pyproject.toml drivers/*/pyproject.toml)
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv with $("$PYTHON" --version)"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.artifacts-async-installed
want="$(cat "${projects[@]}" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "installing artifacts-async and its drivers into .venv"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  args=(-e ".[test,dev]")
  for project in drivers/*/pyproject.toml; do
    args+=(-e "$(dirname "$project")[test,dev]")
  done
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "${args[@]}"
  echo "$want" > "$stamp"
fi
# Azurite, the Azure Blob test server, from npm (Node.js and npm are needed for the Azure
# driver's tests), into a git-ignored folder this script owns. Pinned: 3.35 breaks batch
# deletes. A second run only checks the version stamp.
AZURITE_VERSION=3.37.0
azurite=.tools/azurite
if [ "$(cat "$azurite/.installed" 2>/dev/null)" != "$AZURITE_VERSION" ] || \
   [ ! -x "$azurite/node_modules/.bin/azurite-blob" ]; then
  if ! command -v npm >/dev/null; then
    echo "npm (Node.js) is needed to install Azurite for the Azure driver's tests" >&2
    exit 1
  fi
  echo "installing azurite@$AZURITE_VERSION into $azurite"
  mkdir -p "$azurite"
  npm install --prefix "$azurite" --no-audit --no-fund --loglevel=error \
    "azurite@$AZURITE_VERSION"
  echo "$AZURITE_VERSION" > "$azurite/.installed"
fi
