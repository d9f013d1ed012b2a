#!/usr/bin/env bash
# The main job on the embedded default: set up, then roll out the SCST target
# side on an emulated MDS and show that it converged.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
scripts/setup.sh
exec "$VENV/bin/python" -m scripts.demo "$@"
