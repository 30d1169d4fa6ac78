"""The entropy-model interface every kind (n-gram, transformer) implements.

A structural `Protocol` rather than a base class: the transformer LM lives in
`bytepatch.models` (torch) and must not be forced to import anything heavy from here,
and the core library must never import it. The trade-off is that conformance is
checked by the tests of each kind, not by inheritance.

On disk a model is a directory holding `config.json` with a `"kind"` field plus the
kind's weight files; `bytepatch.entropy.registry` dispatches on that field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from bytepatch.errors import ConfigError
from bytepatch.strict import check_keys

CONFIG_FILE = "config.json"
# The `transformers` model types bytepatch reads (`bytepatch.models.hf`): BltForCausalLM and BltPatcher.
TRANSFORMERS_MODEL_TYPES = ("blt", "blt_patcher")


def other_transformers_model(config: Any) -> str | None:
    """What a `transformers` config.json of a model bytepatch does not read is (None for any other config).

    Such a directory (a Llama, a GPT-2...) was taken for a bytepatch run or entropy model and
    refused for a file it never has ('checkpoint.pt: no such file') or a key it lacks ('kind').
    """
    if not isinstance(config, dict) or "kind" in config or "model" in config:  # a bytepatch config
        return None
    model_type = config.get("model_type")
    if not isinstance(model_type, str) or model_type in TRANSFORMERS_MODEL_TYPES:
        return None
    return (
        f"model_type is {model_type!r}: a transformers model other than BLT; bytepatch reads "
        "transformers BltForCausalLM ('blt') and BltPatcher ('blt_patcher') directories only"
    )


@runtime_checkable
class EntropyModel(Protocol):
    """A byte-level predictor that yields one entropy (nats) per byte (docs/design.md §2)."""

    kind: str  # "ngram", "transformer", ...: the `kind` field of config.json
    fingerprint: str  # stable hash of config + weights: identical entropies <=> equal fingerprints
    default_threshold: float | None  # global-rule threshold shipped with the model, if any
    context_length: int  # most bytes of history the model ever looks at

    def entropies(self, docs: Sequence[bytes]) -> list[np.ndarray]:
        """One float32 array per document: h[t] in nats, given BOS and bytes 0..t-1.

        The distribution is the model's own: the n-gram's is over the 256 byte values
        (h <= ln 256); a model with special ids may spread mass over those too.
        """
        ...

    def cross_entropy(self, docs: Sequence[bytes]) -> float:
        """Mean surprisal of the actual bytes, in bits per byte.

        Every kind must raise ValueError (with a message saying so) when `docs` hold no
        byte at all, never return NaN: a mean over nothing is a caller's error.
        """
        ...

    def save(self, path: str | Path) -> None:
        """Write the model directory (config.json with `kind` + weight files)."""
        ...

    @classmethod
    def load(cls, path: str | Path) -> EntropyModel:
        """Read a directory written by `save`."""
        ...


def read_model_config(path: str | Path) -> dict[str, Any]:
    """The parsed config.json of a model directory, with clear errors naming the file."""
    config_path = Path(path) / CONFIG_FILE
    if not Path(path).is_dir():
        raise FileNotFoundError(f"entropy model {str(path)!r} is not a directory")
    if not config_path.is_file():
        raise FileNotFoundError(f"entropy model {str(path)!r} has no {CONFIG_FILE}")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{config_path}: not valid JSON ({exc})") from exc
    if (other := other_transformers_model(config)) is not None:
        raise ValueError(f"{config_path}: {other}")
    if not isinstance(config, dict) or not isinstance(config.get("kind"), str):
        raise ValueError(f"{config_path}: expected a JSON object with a string 'kind' field")
    return config


def check_model_config(raw: dict[str, Any], where: Path, kind: str, known: set[str]) -> None:
    """Refuse a config.json of another kind or with keys this version does not know
    (a silently ignored key would be a setting the user believes in but that does nothing)."""
    if raw["kind"] != kind:
        raise ConfigError(f"{where}: kind is {raw['kind']!r}, expected {kind!r}")
    try:
        check_keys(raw, sorted(known), f"{kind} entropy model config")
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def as_documents(docs: Sequence[bytes] | bytes) -> list[bytes]:
    """Normalise the documents argument, refusing the easy mistake of passing one `bytes`."""
    if isinstance(docs, (bytes, bytearray, memoryview, str)):
        raise TypeError("pass a sequence of documents (e.g. [data]), not a single bytes/str object")
    out = []
    for i, doc in enumerate(docs):
        if isinstance(doc, str):
            raise TypeError(f"document {i} is a str; encode it (documents are bytes, docs/design.md §1)")
        if isinstance(doc, np.ndarray) and (doc.dtype != np.uint8 or doc.ndim != 1):
            # bytes() of an int64 array is its raw memory: 8 entropies per value, silently.
            raise TypeError(
                f"document {i} is a {doc.dtype} array of shape {doc.shape}; documents are bytes or 1-D uint8 arrays"
            )
        out.append(bytes(doc))
    return out


def score(model: EntropyModel, docs: Sequence[bytes]) -> tuple[list[np.ndarray], float, int]:
    """(entropies, total surprisal in bits, total bytes) in one pass where the model allows.

    Models may offer `entropies_and_surprisals(docs) -> (list, list)` (nats) to avoid
    running twice; otherwise this falls back to the two protocol methods.
    """
    docs = as_documents(docs)
    n_bytes = sum(len(d) for d in docs)
    both = getattr(model, "entropies_and_surprisals", None)
    if both is not None:
        hs, ss = both(docs)
        bits = float(sum(float(np.sum(s, dtype=np.float64)) for s in ss)) / math.log(2)
        return hs, bits, n_bytes
    hs = model.entropies(docs)
    bits = model.cross_entropy(docs) * n_bytes if n_bytes else 0.0
    return hs, bits, n_bytes
