"""Entry point for Salt's loader: where mdtmirror's modules and states live.

The directories are looked up through the import system rather than next to
this file, so an editable install (which maps ``mdtmirror_loader.modules`` to
the repository's ``_modules/``) and a regular install both resolve.
"""

import importlib.util


def _package_dir(name):
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return []
    return list(spec.submodule_search_locations)


def loader_dirs():
    """Return ``{ext_type: [dirs]}`` for Salt's new-style entry points."""
    return {
        "modules": _package_dir("mdtmirror_loader.modules"),
        "states": _package_dir("mdtmirror_loader.states"),
        "runners": _package_dir("mdtmirror_loader.runners"),
        "beacons": _package_dir("mdtmirror_loader.beacons"),
    }
