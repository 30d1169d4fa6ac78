"""`check_field_types`: every annotation the configs use, what it accepts, normalises and refuses."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from bytepatch.models.field_types import check_field_types


@dataclass(frozen=True)
class Example:
    count: int = 1
    rate: float = 0.5
    limit: int | None = None
    sizes: tuple[int, ...] = (3, 4)
    name: str = "x"
    flag: bool = False

    def __post_init__(self) -> None:
        check_field_types(self, "ex.")


def test_good_values_pass_and_are_normalised():
    e = Example(count=np.int64(3), rate=2, limit=7, sizes=[5, 6], flag=True)
    assert (e.count, e.rate, e.limit, e.sizes) == (3, 2.0, 7, (5, 6))
    assert type(e.count) is int and type(e.rate) is float and isinstance(e.sizes, tuple)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"count": 1.0}, "ex.count must be an integer, got 1.0 (float)"),
        ({"count": True}, "ex.count must be an integer, got True (bool)"),
        ({"count": "1"}, "ex.count must be an integer, got '1' (str)"),
        ({"rate": math.nan}, "ex.rate must be a finite number, got nan (float)"),
        ({"rate": False}, "ex.rate must be a finite number, got False (bool)"),
        ({"limit": 2.5}, "ex.limit must be an integer or null, got 2.5 (float)"),
        ({"sizes": 3}, "ex.sizes must be a list of integers, got 3 (int)"),
        ({"sizes": [3, "4"]}, "ex.sizes must be a list of integers, got [3, '4'] (list)"),
        ({"name": None}, "ex.name must be a string, got None (NoneType)"),
        ({"flag": 0}, "ex.flag must be true or false, got 0 (int)"),
    ],
)
def test_wrong_types_name_the_key_the_type_and_the_value(kwargs, message):
    with pytest.raises(ValueError) as err:
        Example(**kwargs)
    assert str(err.value) == message


def test_an_annotation_it_does_not_know_is_a_bug_not_a_user_error():
    @dataclass(frozen=True)
    class Odd:
        table: dict = None

        def __post_init__(self) -> None:
            check_field_types(self)

    with pytest.raises(TypeError, match="does not know the annotation"):
        Odd({})


def test_an_integer_too_large_for_a_float_field_is_refused_not_raised():
    """math.isfinite(10**400) raises OverflowError: it was a traceback."""
    from bytepatch.models.train import TrainConfig

    with pytest.raises(ValueError, match="train.lr must be a finite number"):
        TrainConfig(lr=10**400)
