"""`InputError` lives in `bytepatch.errors` (one error module per layer); re-exported here for old imports."""

from bytepatch.errors import InputError

__all__ = ["InputError"]
