#!/usr/bin/env bash
# Run every test tier this machine can run, plus the linters, on the pinned
# Salt (3008), then the loader/state tiers again on Salt 3006 LTS.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
scripts/setup.sh
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
"$VENV/bin/salt-lint" salt/mdtmirror/*.sls
"$VENV/bin/python" -m pytest -p no:cacheprovider -ra "$@"

if [ -z "${MDTMIRROR_SKIP_SALT3006:-}" ] && [ $# -eq 0 ]; then
    echo "== Salt 3006 LTS leg =="
    VENV=.venv-salt3006 REQUIREMENTS=requirements-salt3006.txt scripts/setup.sh
    .venv-salt3006/bin/python -m pytest -p no:cacheprovider -ra tests/unit tests/functional
fi
