"""`transformers` BLT interop: read the port's checkpoints into bytepatch models and write them back.

    from bytepatch.models.hf import load_blt, load_patcher, save_blt
    ckpt = load_blt("path/to/blt-1b-hf")   # .model (BLT), .entropy_model, .patcher (settings)
    save_blt(ckpt.model, "out", entropy_model=ckpt.entropy_model, patcher=ckpt.patcher)

Needs neither `transformers` nor `safetensors` at run time (`safetensors_io` reads
and writes the format with torch). See docs/models.md for what differs between the
paper, the reference code, the port and bytepatch, and the settings refused on export.
"""

from bytepatch.models.hf.checkpoint import (
    HFCheckpoint,
    blt_config_of,
    hf_model_type,
    load_blt,
    load_patcher,
    save_blt,
    save_patcher,
)
from bytepatch.models.hf.config_map import EXPORT_REFUSALS, UnsupportedSetting

__all__ = [
    "EXPORT_REFUSALS",
    "HFCheckpoint",
    "UnsupportedSetting",
    "blt_config_of",
    "hf_model_type",
    "load_blt",
    "load_patcher",
    "save_blt",
    "save_patcher",
]
