"""Single source of the package version (read by pyproject and dataset metadata)."""

__version__ = "0.1.0"
