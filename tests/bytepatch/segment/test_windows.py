"""Windowed patching of long documents equals patching them whole."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bytepatch import EntropyPatcher, EntropyPatcherConfig, SpacePatcher, SpacePatcherConfig
from bytepatch import StridePatcher, StridePatcherConfig
from bytepatch.segment.windows import patch_long_document

from tests.bytepatch.strategies import byte_values, max_lengths


class ContextModel:
    """A deterministic model whose h[t] depends on exactly the 3 bytes before t (and BOS)."""

    context_length = 3

    def entropies(self, docs):
        out = []
        for d in docs:
            a = np.frombuffer(d, dtype=np.uint8).astype(np.int64)
            padded = np.concatenate([[300, 301, 302], a])  # BOS-like padding
            h = (padded[:-3] * 7 + padded[1:-2] * 3 + padded[2:-1] * 11) % 97 / 20.0
            out.append(h[: len(a)].astype(np.float32))
        return out


PATCHERS = st.sampled_from(["space", "stride", "global", "relative", "both"])


def build(kind: str, cap: int | None):
    if kind == "space":
        return SpacePatcher(SpacePatcherConfig(max_patch_length=cap))
    if kind == "stride":
        return StridePatcher(StridePatcherConfig(stride=5, max_patch_length=cap))
    thr = {"global": (2.0, None), "relative": (None, 0.5), "both": (1.0, 0.2)}[kind]
    return EntropyPatcher(EntropyPatcherConfig(threshold=thr[0], threshold_add=thr[1], max_patch_length=cap))


@settings(max_examples=150, deadline=None)
@given(st.lists(byte_values, max_size=120).map(bytes), PATCHERS, max_lengths, st.integers(1, 17))
def test_windowed_equals_whole(doc, kind, cap, window):
    patcher = build(kind, cap)
    model = ContextModel()
    h = model.entropies([doc])[0] if kind not in ("space", "stride") else None
    expected = patcher.patch_lengths(doc, h)
    lengths, kept = patch_long_document(patcher, doc, model, window=window, keep_entropies=True)
    np.testing.assert_array_equal(lengths, expected)
    if h is not None:
        np.testing.assert_array_equal(kept, h.astype(np.float16))


def test_pipeline_windows_long_documents_exactly(tmp_path):
    """Through the whole pipeline: a tiny window must not change a single row."""
    from pathlib import Path

    from bytepatch.dataset import open_dataset
    from bytepatch.io import ReaderConfig
    from bytepatch.segment import SegmentOptions, segment_corpus

    sample = Path(__file__).resolve().parents[3] / "examples" / "sample"
    spec = {"patcher": "space", "max_patch_length": 7}

    def run(out, window):
        options = SegmentOptions(window_bytes=window, show_progress=False)
        segment_corpus([str(sample)], tmp_path / out, spec, ReaderConfig(), options)
        return sorted((r.id, r.bytes, tuple(r.patch_lengths)) for r in open_dataset(tmp_path / out))

    assert run("windowed", 1000) == run("whole", 1 << 30)


def test_windows_with_the_shipped_ngram_model():
    from pathlib import Path

    from bytepatch.entropy.registry import load_entropy_model

    model = load_entropy_model("default")
    doc = (Path(__file__).resolve().parents[3] / "examples" / "sample" / "multilingual.txt").read_bytes()
    patcher = EntropyPatcher(EntropyPatcherConfig(threshold=model.default_threshold, threshold_add=0.1))
    h = model.entropies([doc])[0]
    lengths, kept = patch_long_document(patcher, doc, model, window=37, keep_entropies=True)
    np.testing.assert_array_equal(lengths, patcher.patch_lengths(doc, h))
    np.testing.assert_array_equal(kept, h.astype(np.float16))


def test_groups_and_windows_do_not_change_entropy_rows(tmp_path, monkeypatch):
    """Entropies computed group by group and window by window give the same dataset."""
    from pathlib import Path

    from bytepatch.dataset import open_dataset
    from bytepatch.patchers import PatcherSpec
    from bytepatch.entropy.registry import load_entropy_model
    from bytepatch.io import ReaderConfig
    from bytepatch.segment import SegmentOptions, segment_corpus
    from bytepatch.segment import chunks

    sample = Path(__file__).resolve().parents[3] / "examples" / "sample"
    model = load_entropy_model("default")
    spec = {"patcher": "entropy", "threshold": model.default_threshold, "threshold_add": None, "max_patch_length": 9}

    def run(out, window):
        options = SegmentOptions(window_bytes=window, show_progress=False, save_entropies=True)
        patcher = PatcherSpec.from_dict(spec).build(model)
        segment_corpus([str(sample)], tmp_path / out, patcher, ReaderConfig(), options)
        return sorted((r.id, r.bytes, tuple(r.patch_lengths), tuple(r.entropies)) for r in open_dataset(tmp_path / out))

    whole = run("whole", 1 << 30)
    monkeypatch.setattr(chunks, "GROUP_BYTES", 3000)
    assert run("grouped", 2000) == whole
