"""
The admin-facing docstrings of the loader modules' public functions live in ``<module>_doc.py``
beside this file, one ``DOCS[name]`` per function, and the loader module attaches them when Salt
loads it: ``salt-call sys.doc`` reads ``__doc__`` then, so it shows the same text as a docstring
written in place, while the loader module stays a thin face over the library.
tests/unit/test_loader_api.py checks that every public function gets a text with a CLI example and
that no text is left without its function.
"""


def attach(namespace, docs):
    """Set ``__doc__`` of each function named in ``namespace['__all__']`` that ``docs`` has a text for."""
    for name in namespace["__all__"]:
        if name in docs:
            namespace[name].__doc__ = docs[name]
