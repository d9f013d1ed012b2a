"""Import the loader modules as plain Python modules, for their pure functions."""

import importlib.util

from tests.captures import REPO


def load(kind, name):
    path = REPO / kind / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"mdtmirror_test_{kind.strip('_')}_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
