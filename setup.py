"""Package discovery for hwgen.

The repository keeps ``sim/`` and the template folders at the top level (that is the project's
architecture map), but they must ship inside the wheel as ``hwgen.sim`` and ``hwgen.*_templates``.
pyproject.toml holds the mapping; this file only lists the packages, which ``packages.find``
cannot do across mapped folders.
"""
import shutil
from pathlib import Path

from setuptools import find_namespace_packages, setup
from setuptools.command.build_py import build_py

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


class CleanBuildPy(build_py):
    """setuptools reuses ``build/lib`` between builds and copies all of it into the wheel: a module
    deleted or renamed in the source would still ship. Start each (non-editable) build clean."""

    def run(self):
        if not self.editable_mode:
            shutil.rmtree(Path(self.build_lib) / "hwgen", ignore_errors=True)
        super().run()


setup(packages=_packages(), cmdclass={"build_py": CleanBuildPy})
