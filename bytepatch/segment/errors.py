"""`OutputError` lives in `bytepatch.errors` (one error module per layer); re-exported here for old imports."""

from bytepatch.errors import OutputError

__all__ = ["OutputError"]
