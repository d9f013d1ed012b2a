#!/usr/bin/env bash
# Set up a fresh Debian/Ubuntu machine for mdtmirror's tests and demo:
# system packages (FUSE for the SCST emulator), then a virtualenv with the
# pinned Salt and test tools, and mdtmirror itself installed with pip (so the
# salt.loader entry point is what the tests exercise).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
REQUIREMENTS=${REQUIREMENTS:-requirements-ci.txt}
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

need_apt=""
command -v fusermount3 >/dev/null || need_apt="fuse3"
# blkid and mkfs.ext4: the disk-in-use tests probe real signatures; without
# them those tests would skip, so CI installs them rather than skip.
[ -x /usr/sbin/mkfs.ext4 ] || command -v mkfs.ext4 >/dev/null || need_apt="$need_apt e2fsprogs"
[ -x /usr/sbin/blkid ] || command -v blkid >/dev/null || need_apt="$need_apt util-linux"
if [ -n "$need_apt" ]; then
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq $need_apt >/dev/null
fi
[ -e /dev/fuse ] || { echo "setup: /dev/fuse is missing: the SCST emulator needs FUSE" >&2; exit 1; }

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q -r "$REQUIREMENTS"
"$VENV/bin/pip" install -q --no-deps --force-reinstall .
echo "setup: ok ($("$VENV/bin/salt-call" --version))"
