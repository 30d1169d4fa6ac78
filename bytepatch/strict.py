"""The one strict reader of JSON objects into frozen dataclasses.

Configs, dataset metadata and checkpoint records all arrive as plain dicts parsed from
JSON. Every one of them goes through `check_keys` (directly, or via `from_dict`), so
an unknown key (a typo, a setting this version does not have) or a missing required
key is always the same clear error, never silently dropped: a key the user believes
in but that does nothing is the bug the BLT reference's configs invite (docs/design.md §8).

The trade-off: values are not type-checked here; each dataclass's `__post_init__`
checks its own values, where the meaning of each field is known.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, TypeVar

from bytepatch.errors import ConfigError

T = TypeVar("T")


def check_keys(data: Any, known: Iterable[str], what: str, required: Iterable[str] = ()) -> None:
    """Raise ConfigError unless `data` is a dict whose keys are all `known` and include all `required`.

    `what` names the record in the message ("TrainConfig", "run config data"), e.g.
    `unknown TrainConfig keys: bogus (known: batch_size, lr, ...)`.
    """
    known = list(known)
    if not isinstance(data, dict):
        raise ConfigError(f"{what} must be a JSON object with keys {', '.join(known)}, got {data!r}")
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"unknown {what} keys: {', '.join(map(_shown, unknown))} (known: {', '.join(known)})")
    missing = [k for k in required if k not in data]
    if missing:
        raise ConfigError(f"{what} lacks required keys: {', '.join(missing)}")


def _shown(key: Any) -> str:
    """A key as the message shows it: as it is, or quoted when it would not print as one
    line of plain text (a newline in a damaged manifest's key split the one-line error)."""
    return key if isinstance(key, str) and key.isprintable() else repr(key)


def from_dict(cls: type[T], data: Any, what: str | None = None) -> T:
    """`cls(**data)` for dataclass `cls`, after `check_keys` against its fields.

    Fields without a default are required. Values pass unchanged; `cls.__post_init__`
    validates them (its ValueError propagates as is).
    """
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    required = [f.name for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    check_keys(data, [f.name for f in fields if f.init], what or cls.__name__, required)
    return cls(**data)
