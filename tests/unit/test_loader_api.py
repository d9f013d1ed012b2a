"""What Salt exposes of each loader module: every name of ``__all__`` is a function defined in it.

Salt's loader packs only functions whose ``__module__`` is the loaded module: a public function
imported from the library would vanish from ``salt-call sys.doc`` and ``__salt__`` without an
error. A function the library holds needs a thin definition here, with its CLI example.
"""

import importlib
import inspect

import pytest

from tests.loadermods import load

MODULES = [(kind, name) for kind in ("_modules",) for name in ("lio", "mdtmirror", "scst", "srp", "zfsmirror")]


@pytest.mark.parametrize(("kind", "name"), MODULES)
def test_every_public_name_is_a_function_of_the_module(kind, name):
    module = load(kind, name)
    assert module.__all__, name
    for attr in module.__all__:
        func = getattr(module, attr, None)
        assert inspect.isfunction(func), f"{name}.{attr} is not a function"
        assert func.__module__ == module.__name__, f"{name}.{attr} comes from {func.__module__}: Salt would not load it"
        assert "CLI Example" in (func.__doc__ or ""), f"{name}.{attr} has no CLI example"


@pytest.mark.parametrize("name", ["lio", "scst", "zfsmirror"])
def test_every_kept_docstring_has_its_public_function(name):
    """The texts of ``mdtmirror_lib.<name>_doc`` are attached by name: one whose function was renamed or
    dropped would be silently unused, and the function would show no help."""
    module = load("_modules", name)
    docs = importlib.import_module(f"mdtmirror_lib.{name}_doc").DOCS
    assert sorted(set(docs) - set(module.__all__)) == []
    for attr in docs:
        assert getattr(module, attr).__doc__ is docs[attr], f"{name}.{attr} does not show its kept docstring"
