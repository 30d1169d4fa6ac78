"""Corpus segmentation: the pipeline behind `bytepatch segment`."""

from bytepatch.segment.pipeline import OutputError, SegmentOptions, segment_corpus

__all__ = ["OutputError", "SegmentOptions", "segment_corpus"]
