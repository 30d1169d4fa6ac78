"""`TransformerEntropyModel`: the paper's byte-transformer entropy LM behind the `EntropyModel` protocol.

Wraps a `ByteTransformer` (with a sliding window) and adds what patching needs:
per-byte entropies for documents of any length (`inference.StreamingScorer`),
bits per byte, a default global threshold, a stable fingerprint, and a model
directory format:

    DIR/config.json   {"kind": "transformer", "format": 1, "model": {ByteTransformerConfig},
                       "default_threshold": float | null, "weights": "model.pt", "training": {...}}
    DIR/model.pt      the state_dict (float32), read with torch.load(weights_only=True)

Trade-off: inference defaults to CPU float32 so that a model fingerprint pins the
entropies (and hence the patches) bit for bit on any machine; CUDA with bf16
autocast is several times faster and opt-in (`device="cuda"`), at the price of
entropies that differ from CPU ones by bf16 rounding.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bytepatch.entropy.base import CONFIG_FILE, as_documents, check_model_config, read_model_config, score
from bytepatch.models.entropy_lm.inference import StreamingScorer, receptive_field
from bytepatch.models.files import atomic_torch_save, atomic_write_text, content_checksums, safe_torch_load
from bytepatch.models.nn.transformer import ByteTransformer, ByteTransformerConfig

KIND = "transformer"
FORMAT = 1
WEIGHTS_FILE = "model.pt"
CONFIG_KEYS = {"kind", "format", "model", "default_threshold", "weights", "weights_crc32", "training"}
DEVICES = ("cpu", "cuda", "auto")
# CPU scoring: (lanes, least chunk_len, query chunk). A call pays for all its lanes (one shape): one
# lane keeps a one-document call at one lane's cost (8 lanes: 5-8x). One lane of 1024 positions (fewer,
# larger steps) scored 14-23% faster than 8 lanes of 256 (tiny) or 512 (small), one of 512 as fast, at
# the price of 1024 positions for a call on one short document. Documents start at multiples of
# the query chunk: chunks of 8 instead of a quarter window (64, 128) pad a one-line document to 8
# positions, not 64, and scored as fast (tiny, small and base presets).
CPU_SCORING = (1, 1024, 8)
PRECISIONS = ("auto", "fp32", "bf16")


def resolve_device(device: str) -> torch.device:
    """ "cpu", "cuda" (error if absent) or "auto" (cuda when available)."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but torch sees no CUDA device")
    return torch.device(device)


def autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """bf16 autocast on CUDA unless fp32 is asked; CPU always float32 (bf16 matmuls are slow there)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if device.type == "cuda" and precision in ("auto", "bf16"):
        return torch.bfloat16
    if precision == "bf16":
        raise ValueError("bf16 inference is only offered on CUDA; use precision='fp32' on CPU")
    return None


class TransformerEntropyModel:
    """A sliding-window byte transformer used as an entropy model (kind "transformer")."""

    kind = KIND

    def __init__(
        self,
        model: ByteTransformer,
        default_threshold: float | None = None,
        training: dict[str, Any] | None = None,
        *,
        device: str = "cpu",
        precision: str = "auto",
        batch_size: int | None = None,
        chunk_len: int | None = None,
        query_chunk: int | None = None,
    ) -> None:
        """`batch_size` = lanes scored side by side, `chunk_len` = positions per lane and step,
        `query_chunk` = queries per attention chunk (documents start at multiples of it).

        Every call runs at that one shape, so a document's entropies are the same bits whatever
        else the call holds; other settings change them by float rounding at most. Defaults suit
        the device: on CPU one lane of max(window, 1024) and chunks of 8 (`CPU_SCORING`), on CUDA
        64 lanes of max(window, 256) and chunks of a quarter window.
        """
        for name, value in (("batch_size", batch_size), ("chunk_len", chunk_len), ("query_chunk", query_chunk)):
            # Checked here: 0 was taken as "the default" and a negative batch_size as one lane, silently.
            if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1):
                raise ValueError(
                    f"{name} must be a whole number >= 1 (or None for the device's default), got {value!r}"
                )
        self.device = resolve_device(device)
        self.autocast = autocast_dtype(self.device, precision)
        self.model = model.to(self.device).eval()
        self.context_length = receptive_field(model)  # bytes of history h[t] can depend on (BOS counts as one)
        self.default_threshold = None if default_threshold is None else float(default_threshold)
        self.training = dict(training or {})
        on_gpu = self.device.type == "cuda"
        lanes, min_chunk, default_query_chunk = (64, 256, None) if on_gpu else CPU_SCORING
        self.batch_size = batch_size or lanes
        self.chunk_len = chunk_len or max(model.config.window, min_chunk)
        self.query_chunk = query_chunk or default_query_chunk  # None: a quarter window (`scoring_chunk`)

    @property
    def config(self) -> ByteTransformerConfig:
        return self.model.config

    # -- scoring ---------------------------------------------------------------------------------

    def entropies_and_surprisals(self, docs: Sequence[bytes]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Per-byte entropy and surprisal of the actual byte, both float32 nats, in one pass."""
        docs = as_documents(docs)
        was_training = self.model.training
        self.model.eval()
        try:
            return self.scorer().score(docs, self.batch_size)
        finally:
            self.model.train(was_training)

    def scorer(self) -> StreamingScorer:
        """The scorer `entropies` runs: this model's lanes' length, query chunk and precision."""
        return StreamingScorer(self.model, self.chunk_len, self.autocast, self.query_chunk)

    def entropies(self, docs: Sequence[bytes]) -> list[np.ndarray]:
        """h[t] in nats for every byte of every document (docs/design.md §2)."""
        return self.entropies_and_surprisals(docs)[0]

    def cross_entropy(self, docs: Sequence[bytes]) -> float:
        """Mean surprisal of the actual bytes in bits per byte (like every kind: an error without bytes)."""
        _, bits, n = score(self, docs)
        if n == 0:
            raise ValueError("cross_entropy needs at least one byte")
        return bits / n

    # -- identity and persistence ----------------------------------------------------------------

    @property
    def fingerprint(self) -> str:
        """sha256 of the canonical model config and every weight's name, dtype, shape and bytes.

        Threshold and training notes are left out: they do not change entropies.
        """
        # Not cached: the wrapped module may still be training, and a stale fingerprint
        # would let a dataset claim entropies the model no longer gives.
        digest = hashlib.sha256(_canonical({"kind": KIND, "model": self.config.to_dict()}).encode())
        for name, tensor in sorted(self.model.state_dict().items()):
            t = tensor.detach().to("cpu", torch.float32).contiguous()
            digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
            digest.update(t.numpy().tobytes())
        return f"transformer-{digest.hexdigest()[:32]}"

    def config_json(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "format": FORMAT,
            "model": self.config.to_dict(),
            "default_threshold": self.default_threshold,
            "weights": WEIGHTS_FILE,
            "training": self.training,
        }

    def save(self, path: str | Path) -> None:
        """Write DIR/model.pt then DIR/config.json, each atomically (config last: it marks
        completion). The config records the CRC-32 of the weights it goes with: a save
        over an earlier model that is killed between the two files leaves new weights
        beside the old config, which `load` then refuses instead of pairing them."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().to("cpu", torch.float32) for k, v in self.model.state_dict().items()}
        atomic_torch_save(state, path / WEIGHTS_FILE)
        config = {**self.config_json(), "weights_crc32": content_checksums(state, full=False)["crc32"]}
        atomic_write_text(path / CONFIG_FILE, json.dumps(config, indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | Path, **options: Any) -> TransformerEntropyModel:
        """Read a directory written by `save`; `options` are the constructor's keyword options."""
        path = Path(path)
        cfg = read_model_config(path)
        where = path / CONFIG_FILE
        check_model_config(cfg, where, KIND, CONFIG_KEYS)
        if isinstance(cfg.get("format"), bool) or cfg.get("format") != FORMAT:
            raise ValueError(f"{where}: unsupported format {cfg.get('format')!r} (this version reads {FORMAT})")
        _check_fields(cfg, where)
        try:
            config = ByteTransformerConfig.from_dict(cfg["model"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: bad 'model' config ({exc})") from exc
        if config.window is None:
            raise ValueError(f"{where}: 'model' has no window; the entropy LM is a sliding-window model")
        weights = path / cfg.get("weights", WEIGHTS_FILE)
        state = safe_torch_load(weights)
        want = cfg.get("weights_crc32")  # absent in models saved before it was recorded
        if want is not None and content_checksums(state, full=False)["crc32"] != want:
            raise ValueError(
                f"{weights}: not the weights {where} was written with (a save interrupted between the two "
                "files?); save or train the model again"
            )
        model = ByteTransformer(config)
        if (mismatch := _state_mismatch(state, model)) is not None:
            raise ValueError(f"{weights}: weights do not match the config in {where} ({mismatch})")
        try:
            model.load_state_dict(state, strict=True)
        except (RuntimeError, TypeError) as exc:  # not expected once the names and shapes match
            raise ValueError(f"{weights}: weights do not match the config in {where} ({exc})") from exc
        return cls(model, cfg.get("default_threshold"), cfg.get("training"), **options)


def _state_mismatch(state: Any, model: ByteTransformer) -> str | None:
    """How a loaded state_dict differs from what `model` expects, in one line (None if it fits).

    torch's own message lists every tensor on a line of its own (dozens for a config whose
    `dim` was edited), and a file holding no dict raised a TypeError."""
    if not isinstance(state, dict):
        return f"the file holds a {type(state).__name__}, not a dict of weights"
    want = model.state_dict()
    problems = [f"missing {name}" for name in want if name not in state]
    problems += [f"unexpected {name}" for name in state if name not in want]
    for name, tensor in want.items():
        got = state.get(name)
        if name in state and not isinstance(got, torch.Tensor):
            problems.append(f"{name} is a {type(got).__name__}, not a tensor")
        elif isinstance(got, torch.Tensor) and tuple(got.shape) != tuple(tensor.shape):
            problems.append(f"{name} is {list(got.shape)} in the file, {list(tensor.shape)} for the config")
    if not problems:
        return None
    more = f" and {len(problems) - 1} more" if len(problems) > 1 else ""
    return problems[0] + more


def _check_fields(cfg: dict[str, Any], where: Path) -> None:
    """The top-level fields of a config.json, by type: a hand-edited value is refused here,
    naming the file, not taken (a NaN or string threshold) or failed on later with a
    traceback ('weights': 5, 'training': [])."""
    threshold = cfg.get("default_threshold")
    if threshold is not None and (
        isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold)
    ):
        raise ValueError(f"{where}: default_threshold must be a finite number or null, got {threshold!r}")
    weights = cfg.get("weights", WEIGHTS_FILE)
    if not isinstance(weights, str) or weights in ("", ".", "..") or Path(weights).name != weights:
        # A file of the directory only: one outside it would not move with a copied directory.
        raise ValueError(f"{where}: 'weights' must be the name of a file in the model directory, got {weights!r}")
    training = cfg.get("training")
    if training is not None and not isinstance(training, dict):
        raise ValueError(f"{where}: 'training' must be an object, got {type(training).__name__}")
    crc = cfg.get("weights_crc32")
    if crc is not None and not isinstance(crc, str):
        raise ValueError(f"{where}: 'weights_crc32' must be a string, got {crc!r}")


def load(path: str | Path, **options: Any) -> TransformerEntropyModel:
    """Load a transformer entropy model directory (the entry point `cli/_entropy_model.py` dispatches to)."""
    return TransformerEntropyModel.load(path, **options)


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))
