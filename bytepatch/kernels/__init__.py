"""Numba kernels for patch boundaries (docs/design.md §3), each with a plain NumPy twin.

Every rule is split in two pure steps: a *start-mask* kernel (one uint8 per byte,
1 where a patch starts) and the shared `starts_to_lengths` kernel that turns starts
into patch lengths and applies the optional max-patch-length cut. Rules stay tiny and
obviously correct; the length bookkeeping is written (and tested) once.

All kernels take a flat ragged batch (values + int64 offsets) so one call patches
many documents. `reference` holds the NumPy twins used by the tests. The space rule
also has a fused fast path (`space_lengths`), tested equal to the two-step form.
"""

import importlib

# Lazy (PEP 562): importing Numba and loading its cache costs ~0.5 s, which a space run,
# an `inspect` or a `--help` should not pay. Each name loads its module on first use.
_HOMES = {
    "entropy_starts": "entropy",
    "starts_to_lengths": "lengths",
    "space_lengths": "space",
    "space_starts": "space",
    "stride_starts": "stride",
    "apply_cap": "lengths",
    "cut_lengths": "lengths",
}


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(f"bytepatch.kernels.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'bytepatch.kernels' has no attribute {name!r}")


__all__ = ["entropy_starts", "space_lengths", "space_starts", "starts_to_lengths", "stride_starts"]
