"""Errors a reader can act on.

Every error the helpers raise on purpose is a :class:`BookError`: its message names the problem and the fix.
In a notebook IPython shows it as that one message instead of a wall of traceback (``_render_traceback_``),
and ``python -m helpers`` prints it and exits with status 1.
"""

from __future__ import annotations


class BookError(Exception):
    """A problem with the reader's set-up or input, with a message that says how to fix it."""

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of formatting the traceback.
        return [f"{type(self).__name__}: {self}"]


class ConfigError(BookError, ValueError):
    """An environment setting has a value the book does not understand."""


class InputError(BookError, ValueError):
    """An argument has the wrong shape, dtype or range."""


class DataError(BookError):
    """A data file is missing or corrupt, or a download failed."""


class WeightsError(BookError):
    """Pretrained weights are missing and stand-in weights were not allowed."""
