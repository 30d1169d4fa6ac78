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
