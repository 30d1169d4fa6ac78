"""Type checks for the frozen config dataclasses (`TrainConfig`, the BLT parts, `ByteTransformerConfig`).

Configs arrive from JSON files and `key=value` overrides, where `"100"`, `2.5`, `true`
or `"nan"` can stand where an integer belongs. Unchecked, such a value reaches a
comparison (a traceback), or worse is accepted (`steps=1.5` trains, `steps=true` is 1).
Each config's `__post_init__` calls `check_field_types` first, so its own range checks
then compare numbers, and a wrong type is one line naming the key, the type wanted and
the value given. The trade-off: only the annotations these configs use are understood
(int, float, bool, str, `X | None`, `tuple[int, ...]`); another one is a bug, raised as such.

Normalised on the way (a frozen dataclass is set through `object.__setattr__`): an integer
where a float belongs becomes that float (JSON writes `1e3` as `1000.0` but `1000` as
`1000`, and both must compare equal on resume), a list where a tuple belongs a tuple.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import types
import typing
from typing import Any


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def check_field_types(obj: Any, prefix: str = "") -> None:
    """Raise ValueError naming `prefix + field` unless every init field of dataclass `obj` has its
    annotated type; normalise int -> float and list -> tuple in place (see the module docstring)."""
    hints = _hints(type(obj))
    for f in dataclasses.fields(obj):
        if not f.init or dataclasses.is_dataclass(getattr(obj, f.name)):
            continue  # a nested config checked itself when it was built
        value = getattr(obj, f.name)
        fixed = _coerce(hints[f.name], value)
        if fixed is _WRONG:
            raise ValueError(
                f"{prefix}{f.name} must be {_describe(hints[f.name])}, got {value!r} ({type(value).__name__})"
            )
        if fixed is not value:
            object.__setattr__(obj, f.name, fixed)


SCALES = ("rope_theta", "ffn_dim_multiplier", "norm_eps")  # the positive floats of a transformer stack


def check_sizes(obj: Any, prefix: str, counts: tuple[str, ...], scales: tuple[str, ...]) -> None:
    """Raise ValueError naming `prefix + field` unless every field in `counts` is >= 1 (layers,
    widths, heads) and every one in `scales` is > 0 (a RoPE base, an epsilon); after
    `check_field_types`, so they are numbers. The shape checks every model config shares."""
    for name in counts:
        if getattr(obj, name) < 1:
            raise ValueError(f"{prefix}{name} must be >= 1, got {getattr(obj, name)}")
    for name in scales:
        if getattr(obj, name) <= 0:
            raise ValueError(f"{prefix}{name} must be > 0, got {getattr(obj, name)}")


_WRONG = object()


def _coerce(hint: Any, value: Any) -> Any:
    """`value` as type `hint` wants it, or _WRONG."""
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            fixed = _coerce(arg, value)
            if fixed is not _WRONG:
                return fixed
        return _WRONG
    if typing.get_origin(hint) is tuple:  # tuple[int, ...]
        if not isinstance(value, (tuple, list)):
            return _WRONG
        items = [_coerce(args[0], v) for v in value]
        return _WRONG if any(v is _WRONG for v in items) else tuple(items)
    if isinstance(value, bool):  # a bool is an int to Python, never to a config
        return value if hint is bool else _WRONG
    if hint is int:
        return int(value) if isinstance(value, numbers.Integral) else _WRONG
    if hint is float:
        try:
            ok = isinstance(value, numbers.Real) and math.isfinite(value)
        except OverflowError:  # an integer too large for a float (a JSON 1 followed by 400 zeros)
            return _WRONG
        return float(value) if ok and type(value) is not float else (value if ok else _WRONG)
    if hint in (str, bool):
        return value if isinstance(value, hint) else _WRONG
    raise TypeError(f"check_field_types does not know the annotation {hint!r}")


def _describe(hint: Any) -> str:
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return " or ".join([_describe(a) for a in args if a is not type(None)] + ["null"] * (type(None) in args))
    if typing.get_origin(hint) is tuple:
        return f"a list of {_describe(args[0]).removeprefix('an ').removeprefix('a ')}s"
    return {int: "an integer", float: "a finite number", bool: "true or false", str: "a string"}[hint]
