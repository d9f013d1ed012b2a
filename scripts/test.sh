#!/usr/bin/env bash
# Run every test tier this machine can run, plus the linters.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
scripts/setup.sh
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
"$VENV/bin/salt-lint" salt/mdtmirror/*.sls
exec "$VENV/bin/python" -m pytest -p no:cacheprovider -ra "$@"
