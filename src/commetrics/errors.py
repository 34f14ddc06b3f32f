"""
Every error this package raises on purpose:

* CommetricsError
  x InputError (also a ValueError)      a file, column, parameter or name we cannot use
    + ConfigError                       commetrics.toml has an unknown key or a bad value
    + MissingColumnError                a source file lacks a column we need
    + SchemaContractError               a file has columns the schema contract forbids
    + UnreadableFileError               a file cannot be opened or parsed as a whole
    + UnknownNameError                  a table, metric or definition name is not known
    + NotEnoughDataError                the store holds too little for an analysis to answer
  x WorkspaceError                      the workspace folder or its store is missing or unusable
    + StoreUnavailableError             the store is busy, unreadable or read-only where a write is needed
      + StoreDamagedError               the store file (or its write-ahead log) is damaged
  x BackendError                        the configured analysis engine (Spark) cannot start or cannot run an analysis
  x MissingToolError                    a program needed on this machine (a browser for PDF) is missing

Messages say what happened, to what, and what to do next.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class CommetricsError(Exception):
    """The root of every error commetrics raises on purpose."""


class InputError(CommetricsError, ValueError):
    """A file, column, parameter or name that commetrics cannot use."""


class ConfigError(InputError):
    """``commetrics.toml`` has an unknown key or a bad value."""


class MissingColumnError(InputError):
    """A source file lacks a column that the target table needs."""


class SchemaContractError(InputError):
    """A file has columns that the configured schema contract forbids."""


class UnreadableFileError(InputError):
    """A file cannot be opened or parsed as a whole."""


class UnknownNameError(InputError):
    """A table, metric or definition name that is not known."""

    @classmethod
    def for_name(cls, kind: str, name: str, known: Iterable[str], hint: str = "") -> UnknownNameError:
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3)
        msg = f"Unknown {kind} {name!r}."
        if close:
            msg += f" Did you mean {', '.join(map(repr, close))}?"
        msg += f" Known: {', '.join(known)}."
        if hint:
            msg += f"\n{hint}"
        return cls(msg)


class NotEnoughDataError(InputError):
    """The store holds too little for an analysis to answer (too few renewals, answers, units ...).

    A report shows it as a one-line reason in place of the section; the command line prints it as an
    error with what to load next."""


class WorkspaceError(CommetricsError):
    """The workspace folder or its store is missing or unusable."""


class StoreUnavailableError(WorkspaceError):
    """The store is busy, unreadable, or opened read-only where a write is needed."""


class StoreDamagedError(StoreUnavailableError):
    """The store's file or its write-ahead log is damaged (truncated, a checksum that does not match).

    The message says what DuckDB found and offers ``commetrics store check`` and ``commetrics restore``."""


class MissingToolError(CommetricsError):
    """A program commetrics needs on this machine is missing (a headless browser to print a PDF); the message
    says how to install it."""


class BackendError(CommetricsError):
    """The configured analysis engine (``[engine] backend``) cannot start, or cannot run an analysis."""
