"""One error hierarchy across the layers: catching the core root catches every user-fixable error."""

from __future__ import annotations

import click
import pytest

from bytepatch.errors import BytepatchError, ConfigError, LockedError, OutputError, PatcherOptionError, ShardError


def test_model_errors_hang_under_the_core_root():
    from bytepatch.models.errors import DataError, DatasetMismatchError, ModelError, TrainingError, UnsupportedSetting

    for cls in (TrainingError, DataError, DatasetMismatchError, UnsupportedSetting):
        assert issubclass(cls, ModelError) and issubclass(cls, BytepatchError)
    for cls in (DataError, DatasetMismatchError, UnsupportedSetting, ConfigError, ShardError):
        assert issubclass(cls, ValueError)  # callers that caught ValueError still do
    assert issubclass(LockedError, OutputError) and issubclass(PatcherOptionError, ConfigError)


@pytest.mark.parametrize(
    ("error", "kind", "text"),
    [
        (PatcherOptionError("do not pass both"), click.UsageError, "do not pass both"),
        (ConfigError("unknown X keys: y"), click.ClickException, "p: unknown X keys: y"),
        (FileNotFoundError(2, "No such file or directory", "/x/y"), click.ClickException, "p: /x/y: No such file"),
    ],
)
def test_the_cli_maps_library_errors_to_one_line_click_errors(error, kind, text):
    from bytepatch.cli.errors import user_errors

    with pytest.raises(kind) as info:
        with user_errors("p: " if kind is not click.UsageError else ""):
            raise error
    assert text in info.value.format_message()


def test_bugs_keep_their_traceback():
    from bytepatch.cli.errors import user_errors

    with pytest.raises(KeyError):
        with user_errors():
            raise KeyError("a bug")


def _all_subclasses(cls: type) -> list[type]:
    return [cls] + [c for sub in cls.__subclasses__() for c in _all_subclasses(sub)]


def test_every_error_survives_pickling_as_it_does_between_processes():
    """Worker processes hand their errors to the parent pickled: each must come back as
    the same class with the same message (and an InputError with its fields)."""
    import pickle

    import bytepatch.models.errors  # noqa: F401 - registers the model layer's subclasses
    from bytepatch.errors import InputError

    for cls in _all_subclasses(BytepatchError):
        error = InputError("a.jsonl", "malformed JSON", line=3) if cls is InputError else cls("some reason")
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is cls and str(back) == str(error)
    back = pickle.loads(pickle.dumps(InputError("t.parquet", "not text", row=7)))
    assert (back.source, back.reason, back.line, back.row) == ("t.parquet", "not text", None, 7)
    assert str(back) == "t.parquet (row 7): not text"
