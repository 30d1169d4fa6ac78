"""Errors of the segmentation pipeline that are the user's to fix (not bugs)."""


class OutputError(Exception):
    """The output directory cannot be used as asked, or writing to it failed."""
