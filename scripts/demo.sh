#!/usr/bin/env bash
# The main job on the embedded default: set up, then roll out the mirrored pair
# with a real salt-master and two minions (mds01, mds02) on emulated MDS hosts,
# show the pool healthy and that a second run changes nothing (scripts/demo.py).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
scripts/setup.sh
exec "$VENV/bin/python" -m scripts.demo "$@"
