"""
modprobe.d files, pure: where module options persist across a reboot
(``options <module> key=value ...``; modprobe reads them at every load).
One reader for every module mdtmirror configures (ib_srp, ib_srpt, scst).
"""


def logical_lines(text):
    """Group physical lines into modprobe.d logical lines (a trailing ``\\`` continues a line)."""
    groups, current = [], []
    for line in (text or "").splitlines():
        current.append(line)
        if not line.endswith("\\"):
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return groups


def _words(group):
    return " ".join(part.rstrip("\\") for part in group).split("#", 1)[0].split()


def is_options_of(group, module):
    """Is this logical line ``options <module> ...`` (``-`` and ``_`` alike in the name, as modprobe takes them)?"""
    words = _words(group)
    return len(words) >= 2 and words[0] == "options" and words[1].replace("-", "_") == module.replace("-", "_")


def options(text, module):
    """``{option: value}`` of the ``options <module> ...`` lines of a modprobe.d file (later ones win)."""
    found = {}
    for group in logical_lines(text):
        if is_options_of(group, module):
            for word in _words(group)[2:]:
                key, _, value = word.partition("=")
                found[key] = value
    return found
