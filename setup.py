"""Maps the repository folders `cli/` and `models/` to `bytepatch.cli` and `bytepatch.models`.

pyproject.toml cannot express "find the subpackages of a remapped folder", so the
package list is computed here; everything else lives in pyproject.toml.
"""

from setuptools import find_namespace_packages, find_packages, setup

ROOTS = {"bytepatch": "bytepatch", "bytepatch.cli": "cli", "bytepatch.models": "models"}


def _packages() -> list[str]:
    found = []
    for name, folder in ROOTS.items():
        found.append(name)
        found += [f"{name}.{sub}" for sub in find_packages(folder)]
    # Data-only folders (the shipped entropy model) are listed as packages too, so setuptools
    # does not warn that an importable folder is "absent from packages".
    found += [f"bytepatch.{sub}" for sub in find_namespace_packages("bytepatch", include=["assets", "assets.*"])]
    return found


setup(packages=_packages(), package_dir=ROOTS)
