"""Hypothesis strategies that damage files: byte flips, truncation, insertion, random bytes.

Shared by the per-reader fuzz tests (tests/**/test_fuzz_*.py)."""

from __future__ import annotations

from hypothesis import strategies as st


@st.composite
def mutation(draw):
    """A function bytes -> bytes that damages a file somewhere (or replaces it by noise)."""
    kind = draw(st.sampled_from(["flip", "flips", "truncate", "insert", "noise", "zero_run"]))
    pos = draw(st.floats(0.0, 1.0, exclude_max=True))
    if kind == "noise":
        noise = draw(st.binary(max_size=300))
        return lambda data: noise
    if kind == "truncate":
        return lambda data: data[: int(len(data) * pos)]
    if kind == "insert":
        extra = draw(st.binary(min_size=1, max_size=8))
        return lambda data: data[: int(len(data) * pos)] + extra + data[int(len(data) * pos) :]
    if kind == "zero_run":
        n = draw(st.integers(1, 64))
        return lambda data: _patch(data, int(len(data) * pos), b"\0" * n)
    flips = draw(
        st.lists(
            st.tuples(st.floats(0.0, 1.0, exclude_max=True), st.integers(1, 255)),
            min_size=1,
            max_size=1 if kind == "flip" else 16,
        )
    )

    def apply(data: bytes) -> bytes:
        out = bytearray(data)
        for where, xor in flips:
            if out:
                out[int(len(out) * where)] ^= xor
        return bytes(out)

    return apply


def _patch(data: bytes, at: int, piece: bytes) -> bytes:
    return data[:at] + piece[: max(0, len(data) - at)] + data[at + len(piece) :]
