"""Package discovery for hwgen.

The repository keeps ``sim/`` and the template folders at the top level (that is the project's
architecture map), but they must ship inside the wheel as ``hwgen.sim`` and ``hwgen.*_templates``.
pyproject.toml holds the mapping; this file only lists the packages, which ``packages.find``
cannot do across mapped folders.
"""
from setuptools import find_namespace_packages, setup

MAPPED = {"hwgen.sim": "sim", "hwgen.rtl_templates": "rtl_templates",
          "hwgen.hls_templates": "hls_templates", "hwgen.fpga_projects": "fpga_projects"}


def _packages():
    pkgs = find_namespace_packages(include=["hwgen", "hwgen.*"],
                                   exclude=["*.__pycache__"])
    for name, folder in MAPPED.items():
        pkgs.append(name)
        pkgs += [f"{name}.{sub}" for sub in find_namespace_packages(where=folder)
                 if "__pycache__" not in sub]
    return sorted(set(pkgs))


setup(packages=_packages())
