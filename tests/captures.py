"""Access to the real outputs captured on running kernels (../shared/captures).

The captures are the reference: parsers are tested on them, emulators are
compared with them. They live outside the repository on the workplace's
shared disk; ``MDTMIRROR_CAPTURES`` points elsewhere (CI copies them in as
``tests/captures/`` when present).
"""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def captures_dir():
    candidates = [
        os.environ.get("MDTMIRROR_CAPTURES"),
        REPO / "tests" / "golden",
        REPO.parent / "shared" / "captures",
    ]
    for cand in candidates:
        if cand and Path(cand, "scst-3.11-pre-linux-6.1").is_dir():
            return Path(cand)
    raise FileNotFoundError("captured kernel outputs not found (set MDTMIRROR_CAPTURES)")


def scst_capture(name):
    return captures_dir() / "scst-3.11-pre-linux-6.1" / name


def parse_tree(text):
    """
    Parse a captured sysfs tree listing into ``[(kind, mode, relpath, payload)]``.

    Lines: ``D path/``, ``L mode path -> target``, ``F mode path = content``
    with newlines in content shown as ``\\n``. The first line names the root.
    """
    entries = []
    for line in text.splitlines():
        if not line:
            continue
        kind = line[0]
        if kind == "D":
            path = line[2:].rstrip("/")
            if path.startswith("/"):
                continue  # the root itself
            entries.append(("D", 0o755, path, None))
        elif kind == "L":
            _, mode, rest = line.split(" ", 2)
            path, target = rest.split(" -> ", 1)
            entries.append(("L", int(mode, 8), path, target))
        elif kind == "F":
            _, mode, rest = line.split(" ", 2)
            path, _, content = rest.partition(" = ")
            if path.endswith(" ="):  # empty content: "F 644 x = " was stripped
                path = path[:-2]
            entries.append(("F", int(mode, 8), path, content.replace("\\n", "\n")))
        else:
            # continuation of a multi-line value that was not escaped
            kind_, mode, path, content = entries[-1]
            entries[-1] = (kind_, mode, path, content + "\n" + line)
    return entries


def materialize(entries, dest):
    """Write a parsed tree as plain files, dirs and symlinks under ``dest``.

    Unreadable files (0200) keep their mode; a file's captured content gets
    the trailing newline sysfs prints unless it already ends with one.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for kind, mode, path, payload in entries:
        target = dest / path
        if kind == "D":
            target.mkdir(parents=True, exist_ok=True)
        elif kind == "L":
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(payload, target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            content = "" if mode == 0o200 else payload
            if content and not content.endswith("\n"):
                content += "\n"
            target.write_text(content)
            os.chmod(target, mode)
    return dest
