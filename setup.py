"""mdtmirror: Salt extension + formula for mirrored Lustre MDTs over SRP and ZFS.

One source of truth: the loader modules live in ``_modules/`` and ``_states/``
(where ``saltutil.sync_all`` finds them in formula mode). ``pip install .``
packages those same files as ``mdtmirror_loader.modules``/``.states`` and
registers them through the ``salt.loader`` entry point. The library the
loader modules stand on, ``_utils/mdtmirror_lib`` (``salt://_utils`` in formula
mode), is installed as the package ``mdtmirror_lib``.
"""

from setuptools import setup

setup(
    name="mdtmirror",
    version="0.1.0",
    description="Salt modules, states and formula for ZFS-mirrored Lustre MDTs over SRP",
    license="Apache-2.0",
    python_requires=">=3.9",
    packages=[
        "mdtmirror_lib",
        "mdtmirror_loader",
        "mdtmirror_loader.modules",
        "mdtmirror_loader.states",
        "mdtmirror_loader.runners",
        "mdtmirror_loader.beacons",
    ],
    package_dir={
        "mdtmirror_lib": "_utils/mdtmirror_lib",
        "mdtmirror_loader": "mdtmirror_loader",
        "mdtmirror_loader.modules": "_modules",
        "mdtmirror_loader.states": "_states",
        "mdtmirror_loader.runners": "_runners",
        "mdtmirror_loader.beacons": "_beacons",
    },
    install_requires=["salt>=3006"],
    entry_points={"salt.loader": ["mdtmirror = mdtmirror_loader:loader_dirs"]},
)
