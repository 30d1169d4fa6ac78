"""Every error the model layer raises for a problem the user can fix (never a bug).

The model layer's errors hang under the core's root, so one `except BytepatchError`
catches every user-fixable problem of either layer:

    BytepatchError (bytepatch.errors)
    └── ModelError
        ├── TrainingError          training cannot go on: bad settings, a non-finite loss,
        │                          a resume that does not match its checkpoint
        ├── DataError              a document the loader cannot use (names dataset, shard, row; a ValueError)
        ├── DatasetMismatchError   a dataset patched otherwise than the run (a ValueError)
        └── UnsupportedSetting     a setting with no exact Hugging Face equivalent (a ValueError)

`DataError`, `DatasetMismatchError` and `UnsupportedSetting` are also `ValueError`s, as
callers written before this module caught them. A Ctrl-C that stops training with a
checkpoint is not an error: it is `bytepatch.models.train.interrupt.TrainingInterrupted`.
"""

from __future__ import annotations

from bytepatch.errors import BytepatchError


class ModelError(BytepatchError):
    """A problem of the model layer that the user can fix."""


class TrainingError(ModelError):
    """Training cannot go on (bad settings, non-finite loss); the message says what to do."""


class DataError(ModelError, ValueError):
    """A document the loader cannot use (e.g. patch lengths that do not add up); names dataset, shard and row."""


class DatasetMismatchError(ModelError, ValueError):
    """A dataset was patched differently from the run (or from the other datasets)."""


class UnsupportedSetting(ModelError, ValueError):
    """A setting with no exact equivalent on the other side; the message names it."""
