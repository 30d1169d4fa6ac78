"""How the CLI reports a problem the user can fix: one line, no traceback, non-zero exit.

The CLI layer's errors are click's own, mapped from the library's hierarchy
(`bytepatch.errors` for the core, `bytepatch.models.errors` for models) in one place:

    PatcherOptionError              -> click.UsageError      (exit 2: options that do not go together)
    BytepatchError, ValueError      -> click.ClickException  (exit 1: bad input, settings or data)
    OSError                         -> click.ClickException  (exit 1: naming the file and the reason)

Commands raise click exceptions directly for their own checks, and run library calls
inside `user_errors(...)`. A bug (any other exception) still shows its traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import click

from bytepatch.errors import BytepatchError, PatcherOptionError


@contextlib.contextmanager
def user_errors(prefix: str = "") -> Iterator[None]:
    """Turn library errors raised in the block into click errors; `prefix` (e.g.
    "cannot load entropy model 'x': ") goes before the library's message."""
    try:
        yield
    except click.ClickException:
        raise
    except PatcherOptionError as exc:
        raise click.UsageError(f"{prefix}{exc}") from exc
    except (BytepatchError, ValueError) as exc:
        raise click.ClickException(f"{prefix}{exc}") from exc
    except OSError as exc:
        reason = f"{exc.filename}: {exc.strerror or exc}" if exc.filename else str(exc.strerror or exc)
        raise click.ClickException(f"{prefix}{reason}") from exc
