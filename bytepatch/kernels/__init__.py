"""Numba kernels for patch boundaries (docs/design.md §3), each with a plain NumPy twin.

Every rule is split in two pure steps: a *start-mask* kernel (one uint8 per byte,
1 where a patch starts) and the shared `starts_to_lengths` kernel that turns starts
into patch lengths and applies the optional max-patch-length cut. Rules stay tiny and
obviously correct; the length bookkeeping is written (and tested) once.

All kernels take a flat ragged batch (values + int64 offsets) so one call patches
many documents. `reference` holds the NumPy twins used by the tests. The space rule
also has a fused fast path (`space_lengths`), tested equal to the two-step form.
"""

from bytepatch.kernels.entropy import entropy_starts
from bytepatch.kernels.lengths import starts_to_lengths
from bytepatch.kernels.space import space_lengths, space_starts
from bytepatch.kernels.stride import stride_starts

__all__ = ["entropy_starts", "space_lengths", "space_starts", "starts_to_lengths", "stride_starts"]
