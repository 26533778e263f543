#!/usr/bin/env bash
# The whole test suite: installs what it needs into .venv, then runs pytest with branch
# coverage. The test servers (moto for S3) are started by the tests themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m coverage erase
set +e
.venv/bin/python -m coverage run -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
.venv/bin/python -m coverage report --skip-covered --sort=cover | tail -25 || true
exit "$status"
