"""The package's public names: every one resolves, on first use (`import bytepatch` is light)."""

from __future__ import annotations

import subprocess
import sys


def test_the_package_exports_every_public_name_lazily():
    import bytepatch

    for name in bytepatch.__all__:
        assert getattr(bytepatch, name) is not None, name
    assert set(bytepatch.__all__) <= set(dir(bytepatch))


def test_import_bytepatch_loads_neither_numpy_nor_pyarrow():
    code = "import sys, bytepatch; print(sorted({'numpy', 'pyarrow'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
