"""
mdtmirror's library: the code the loader modules (``zfsmirror``, ``scst``,
``srp``, ``lio``, ``mdtmirror``) share and stand on. Each module here does one
job and needs no Salt loader dunders: pure parsers of the kernel's and the
tools' outputs, and pure policy.

Where it lives, in both ways mdtmirror is installed:

- ``pip install .`` installs it as the regular package ``mdtmirror_lib``.
- Formula mode (file_roots/gitfs): it is ``salt://_utils/mdtmirror_lib/``, which
  ``saltutil.sync_all`` (or ``sync_utils``) copies into the minion's
  ``extension_modules/utils``. Salt puts that directory on ``sys.path`` while it
  loads each execution and state module, so the loader modules import this
  package at their top (never inside a function: the path is gone after the
  load). Beacons are loaded without it: the beacon reaches this code through
  ``__salt__`` only.

A process keeps an imported package in ``sys.modules``: a minion whose formula
was upgraded by ``saltutil.sync_all`` would go on running the old library with
the new loader modules. :py:func:`current` is what each loader module calls
first to get the copy that is on disk now.
"""

import importlib
import importlib.machinery
import os
import sys


def _stamp(directory):
    """Where this copy is and each file's size and mtime: what a sync that changed it changes."""
    entries = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                info = os.stat(os.path.join(root, name))
                entries.append((os.path.relpath(os.path.join(root, name), directory), info.st_size, info.st_mtime_ns))
    return (os.path.realpath(directory), tuple(entries))


STAMP = _stamp(os.path.dirname(os.path.abspath(__file__)))


def current():
    """
    This package as the import path finds it now: the one already imported if
    its files did not change, else (a ``saltutil.sync_all`` upgraded it, or the
    path now leads to another copy) every ``mdtmirror_lib`` module is dropped
    from ``sys.modules`` and imported again. Keep this contract: an old copy's
    ``current`` is what runs in a process that imported the old copy.
    """
    name = __name__
    spec = importlib.machinery.PathFinder.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return sys.modules[name]
    if _stamp(list(spec.submodule_search_locations)[0]) == STAMP:
        return sys.modules[name]
    for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[loaded]
    importlib.invalidate_caches()
    return importlib.import_module(name)
