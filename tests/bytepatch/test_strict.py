"""The one strict reader: unknown and missing keys are refused with the record's name."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bytepatch.errors import BytepatchError, ConfigError
from bytepatch.strict import check_keys, from_dict


@dataclass(frozen=True)
class Point:
    x: int
    y: int = 0


def test_from_dict_builds_and_fills_defaults():
    assert from_dict(Point, {"x": 1}) == Point(1, 0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"x": 1, "z": 2}, r"unknown Point keys: z \(known: x, y\)"),
        ({"y": 2}, "Point lacks required keys: x"),
        ([1, 2], "Point must be a JSON object"),
    ],
)
def test_from_dict_refuses_unknown_missing_and_non_objects(data, message):
    with pytest.raises(ConfigError, match=message) as info:
        from_dict(Point, data)
    assert isinstance(info.value, ValueError) and isinstance(info.value, BytepatchError)


def test_check_keys_names_the_record():
    check_keys({"a": 1}, ["a", "b"], "thing", required=["a"])
    with pytest.raises(ConfigError, match="unknown run config data keys: bogus"):
        check_keys({"bogus": 1}, ["patcher"], "run config data")


def test_an_unknown_key_that_would_break_the_line_is_quoted():
    """A damaged manifest's key holding a newline split the one-line error in two."""
    with pytest.raises(ConfigError) as info:
        check_keys({"colu\ns": 1, "bogus": 2}, ["columns"], "dataset metadata")
    assert str(info.value) == "unknown dataset metadata keys: bogus, 'colu\\ns' (known: columns)"
