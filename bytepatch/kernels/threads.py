"""`start_thread_pool()`: start Numba's thread pool without turning on nested OpenMP.

Numba's OpenMP threading layer, when it starts, raises OpenMP's max-active-levels to the
most the runtime supports, so that a `prange` kernel called inside another parallel
region still gets threads. Where torch and Numba share one OpenMP runtime (a torch
build that links the system's libgomp, as the CPU wheels here do), that setting reaches
torch: an intra-op parallel region that calls MKL then starts a nested team of threads
on every call, and on 2 cores the teams spin against each other. A tiny transformer
entropy LM scored the same 6 KB in 10-11 s instead of 0.15 s (70x) in a process that
had run an n-gram kernel on 2 threads; bytepatch's tests that mix both ran 4-20x
slower. No bytepatch kernel nests parallel regions, so the pool is started here and
the setting put back: nesting stays off unless it was on before.
"""

from __future__ import annotations

import ctypes
import functools

import numba


@functools.cache
def start_thread_pool() -> str:
    """Start Numba's thread pool (once per process; Numba's launch is itself once per
    process) and return its threading layer. If the layer is OpenMP and nesting was off
    before, it is off after."""
    omp = _openmp()
    nested_before = omp is not None and omp.omp_get_nested() != 0
    numba.get_num_threads()  # launches the pool on first use
    layer = numba.threading_layer()
    if layer == "omp" and omp is not None and not nested_before and omp.omp_get_nested() != 0:
        omp.omp_set_max_active_levels(1)
    return layer


def _openmp() -> ctypes.CDLL | None:
    """The OpenMP runtime Numba's OpenMP layer runs on (the library its `omppool`
    extension links), or None where Numba has no such layer. A symbol looked up in a
    library's handle is searched in its dependencies too, so this finds the runtime
    that layer uses, whichever it is (GNU, LLVM or Intel)."""
    try:
        from numba.np.ufunc import omppool
    except ImportError:  # built without OpenMP
        return None
    lib = ctypes.CDLL(omppool.__file__)
    lib.omp_get_nested.restype = ctypes.c_int
    lib.omp_set_max_active_levels.argtypes = [ctypes.c_int]
    return lib
