#!/usr/bin/env bash
# Create .venv (if needed) and install the core, the drivers and the test tools into it.
# Idempotent: a second run only checks that everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.artifacts-async-installed
want="$(cat pyproject.toml drivers/*/pyproject.toml 2>/dev/null | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  args=(-e ".[test]")
  for d in drivers/*/; do
    [ -f "$d/pyproject.toml" ] && args+=(-e "${d%/}[test]")
  done
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "${args[@]}"
  echo "$want" > "$stamp"
fi
