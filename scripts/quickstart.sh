#!/usr/bin/env bash
# Installs the library into .venv and runs examples/quickstart.py against the local driver.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python examples/quickstart.py "$@"
