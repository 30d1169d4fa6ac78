"""bytepatch.kernels.threads: the n-gram kernels start Numba's pool without turning on
nested OpenMP, which slowed torch in the same process 4-70x (see the module)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# A fresh process: the pool starts once per process, so this one may have started it.
# It patches on 2 threads (the prange kernel) and says what OpenMP's nesting was before
# and after, read from the runtime Numba's OpenMP layer uses.
PROBE = """
import json
import numpy as np
import numba
from bytepatch.entropy import NgramConfig, NgramModel
from bytepatch.kernels.threads import _openmp

omp = _openmp()
before = None if omp is None else (omp.omp_get_nested(), omp.omp_get_max_active_levels())
docs = [bytes(np.random.default_rng(i).integers(97, 110, 3000, dtype=np.uint8)) for i in range(8)]
model = NgramModel.fit(docs, NgramConfig(order=3, min_count=1))
assert all(np.array_equal(a, b) for a, b in zip(model.entropies(docs, threads=2), model.entropies(docs)))
after = None if omp is None else (omp.omp_get_nested(), omp.omp_get_max_active_levels())
print(json.dumps({"layer": numba.threading_layer(), "before": before, "after": after}))
"""


def probe(**env: str) -> dict:
    """Run PROBE with OpenMP's nesting settings cleared from the environment, then `env` added."""
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_NESTED", "OMP_MAX_ACTIVE_LEVELS")}
    out = subprocess.run([sys.executable, "-c", PROBE], env={**base, **env}, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    if result["layer"] != "omp":
        pytest.skip(f"Numba runs on its {result['layer']} layer here, not OpenMP")
    return result


def test_patching_on_threads_leaves_openmp_nesting_off():
    """Numba's OpenMP layer raised max-active-levels to 255 as it started (nested 0 -> 1)."""
    result = probe()
    assert result["before"][0] == 0
    assert result["after"][0] == 0 and result["after"][1] <= 1


def test_nesting_asked_for_is_kept():
    result = probe(OMP_MAX_ACTIVE_LEVELS="3")
    assert result["before"] == [1, 3]
    assert result["after"][0] == 1  # not turned off: it was on before
