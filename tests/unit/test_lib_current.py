"""mdtmirror_lib.current(): a process that imported the library gets the copy on disk now.

The case it exists for: a minion's process keeps ``mdtmirror_lib`` in ``sys.modules``; after
``saltutil.sync_all`` copied a new version into ``extension_modules/utils``, the reloaded loader
modules must not run on the old one. Run in a child interpreter so the test's own import of the
repository's library is untouched.
"""

import shutil
import subprocess
import sys
import textwrap

from tests.captures import REPO

SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    first, second = sys.argv[1], sys.argv[2]
    sys.path.insert(0, first)
    import mdtmirror_lib
    from mdtmirror_lib import zfs_parse
    old_lib, old_parse = mdtmirror_lib, zfs_parse

    # Nothing changed: the same module objects.
    assert mdtmirror_lib.current() is old_lib
    assert sys.modules["mdtmirror_lib.zfs_parse"] is old_parse

    # A sync rewrites one file (new content, new mtime): current() imports the new copy.
    path = os.path.join(first, "mdtmirror_lib", "zfs_parse.py")
    with open(path, "a") as handle:
        handle.write("\\nSYNCED = 'second version'\\n")
    os.utime(path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    lib = old_lib.current()
    assert lib is not old_lib
    from mdtmirror_lib import zfs_parse
    assert zfs_parse is not old_parse and zfs_parse.SYNCED == "second version"
    assert not hasattr(old_parse, "SYNCED")
    assert lib.current() is lib

    # The import path now leads to another copy (e.g. the formula's before pip's): that one.
    sys.path.insert(0, second)
    other = lib.current()
    assert other is not lib and other.__file__.startswith(second), other.__file__
    print("ok")
    """
)


def test_current_returns_the_copy_on_disk(tmp_path):
    for name in ("first", "second"):
        shutil.copytree(REPO / "_utils" / "mdtmirror_lib", tmp_path / name / "mdtmirror_lib")
    ret = subprocess.run(
        [sys.executable, "-S", "-c", SCRIPT, str(tmp_path / "first"), str(tmp_path / "second")],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": ":".join(p for p in sys.path if "site-packages" in p), "PYTHONDONTWRITEBYTECODE": "1"},
        check=False,
    )
    assert ret.returncode == 0 and ret.stdout.strip() == "ok", ret.stderr
