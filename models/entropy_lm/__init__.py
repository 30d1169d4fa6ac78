"""The paper's entropy LM: a sliding-window byte transformer as an `EntropyModel` (kind "transformer").

    from bytepatch.models.entropy_lm import TransformerEntropyModel, load
    lm = load("runs/entropy-small")                 # a directory written by save / train-entropy
    hs = lm.entropies([b"hello world"])             # one float32 array of nats per document
    bpb = lm.cross_entropy([b"hello world"])        # bits per byte

Training lives in `bytepatch.models.entropy_lm.train` (imported on demand: it is
only needed by `bytepatch train-entropy`).
"""

from bytepatch.models.entropy_lm.inference import StreamingScorer, receptive_field
from bytepatch.models.entropy_lm.model import KIND, TransformerEntropyModel, load

__all__ = ["KIND", "StreamingScorer", "TransformerEntropyModel", "load", "receptive_field"]
