"""`PatcherSpec`: which patcher and every one of its settings, as one typed value.

On disk (dataset metadata, checkpoints, run configs) a patcher is the flat JSON object
`{"patcher": "entropy", "threshold": 1.33, "threshold_add": null, "max_patch_length": 16}`;
in code it is a `PatcherSpec` (the name plus the patcher's frozen config), converted at
the file boundary by `from_dict` / `to_dict`. `build` makes the patcher itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bytepatch.errors import ConfigError
from bytepatch.patchers.base import Patcher, PatcherConfig
from bytepatch.patchers.entropy import EntropyPatcher, EntropyPatcherConfig, EntropySource
from bytepatch.patchers.space import SpacePatcher, SpacePatcherConfig
from bytepatch.patchers.stride import StridePatcher, StridePatcherConfig

PATCHERS: dict[str, tuple[type, type]] = {
    "entropy": (EntropyPatcher, EntropyPatcherConfig),
    "space": (SpacePatcher, SpacePatcherConfig),
    "stride": (StridePatcher, StridePatcherConfig),
}


@dataclass(frozen=True)
class PatcherSpec:
    name: str  # a key of PATCHERS
    config: PatcherConfig  # that patcher's config, every setting explicit

    def __post_init__(self) -> None:
        if self.name not in PATCHERS:
            raise ConfigError(f"unknown patcher {self.name!r}; known: {sorted(PATCHERS)}")
        want = PATCHERS[self.name][1]
        if not isinstance(self.config, want):
            raise ConfigError(f"patcher {self.name!r} takes a {want.__name__}, got {type(self.config).__name__}")

    @classmethod
    def from_dict(cls, data: Any) -> PatcherSpec:
        """Read `{"patcher": name, **settings}`; unset settings take their defaults, unknown ones are refused."""
        if not isinstance(data, dict):
            raise ConfigError(f'a patcher must be a JSON object naming it, e.g. {{"patcher": "space"}}, got {data!r}')
        settings = dict(data)
        name = settings.pop("patcher", None)
        if name not in PATCHERS:
            raise ConfigError(f"unknown patcher {name!r}; known: {sorted(PATCHERS)}")
        return cls(name, PATCHERS[name][1].from_dict(settings))

    @classmethod
    def of(cls, patcher: Patcher) -> PatcherSpec:
        return cls(patcher.name, patcher.config)

    @property
    def needs_entropies(self) -> bool:
        return bool(PATCHERS[self.name][0].needs_entropies)

    def to_dict(self) -> dict[str, Any]:
        """The flat JSON object datasets record: `{"patcher": name, **every setting}`."""
        return {"patcher": self.name, **self.config.to_dict()}

    def build(self, model: EntropySource | None = None) -> Patcher:
        """The patcher; `model` computes entropies for the entropy patcher (others take none)."""
        cls = PATCHERS[self.name][0]
        return cls(self.config, model=model) if cls is EntropyPatcher else cls(self.config)
