"""Registries of what users extend: one module adds one thing.

A :class:`Registry` maps names to entries (an attribution model, a source of platform exports, a
report section ...). The package that owns a registry discovers its entries the first time the
registry is read:

* every module of the package named by ``discover`` (e.g. ``commetrics.sources``) is imported, and
  each registers what it defines at import (``SOURCES.register(...)``), so a new module in that
  package is all it takes to add one;
* then the Python entry points of the group ``entry_points`` (e.g. ``commetrics.sources``), so a
  separately installed package can add entries without touching commetrics.

Help texts and labels come from the entries, so the command line, the report and the docs list
whatever is registered. Reading an unknown name raises :class:`~commetrics.errors.UnknownNameError`
with the closest names.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from .errors import InputError, UnknownNameError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one kind, discovered from a package's modules and from entry points.

    Parameters
    ----------
    kind
        What an entry is, in words ("attribution model"), for messages.
    discover
        A package whose modules are imported on first read (each registers its entries).
    group
        The entry-point group of plug-ins (each entry point is a module or callable that registers).
    hint
        Added to the unknown-name message (what to do instead).
    """

    def __init__(self, kind: str, *, discover: str | None = None, group: str | None = None, hint: str = "") -> None:
        self.kind = kind
        self._discover = discover
        self._group = group
        self._hint = hint
        self._entries: dict[str, T] = {}
        self._loaded = discover is None and group is None
        self._discovering = False
        self._discovery = threading.RLock()

    def register(self, name: str, entry: T, *, replace: bool = False) -> T:
        """Add ``entry`` under ``name``; a second entry of the same name is an error unless ``replace``."""
        if not name or name != name.strip():
            raise InputError(f"A {self.kind} needs a name without surrounding spaces, got {name!r}.")
        if name in self._entries and not replace and self._entries[name] is not entry:
            raise InputError(f"A {self.kind} named {name!r} is already registered; choose another name or pass "
                             "replace=True.")
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    def decorator(self, name: str) -> Callable[[T], T]:
        """``@REGISTRY.decorator("name")`` registers the decorated object."""
        def wrap(entry: T) -> T:
            return self.register(name, entry)
        return wrap

    def _load(self) -> None:
        """Discover the entries once. Another thread reading meanwhile waits for the discovery to end (it would
        find the registry empty or half full); the discovering thread itself, reading it from a module being
        imported, finds what is registered so far."""
        if self._loaded:
            return
        with self._discovery:
            if self._loaded or self._discovering:
                return
            self._discovering = True
            try:
                self._discover_entries()
            finally:
                self._discovering, self._loaded = False, True

    def _discover_entries(self) -> None:
        if self._discover:
            package = importlib.import_module(self._discover)
            for module in pkgutil.iter_modules(getattr(package, "__path__", [])):
                if not module.name.startswith("_"):
                    importlib.import_module(f"{self._discover}.{module.name}")
        if self._group:
            for point in entry_points(group=self._group):
                loaded = point.load()
                if callable(loaded):
                    loaded()

    def get(self, name: str) -> T:
        self._load()
        if name not in self._entries:
            raise UnknownNameError.for_name(self.kind, name, self._entries, self._hint)
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def names(self) -> list[str]:
        """The registered names, in registration order."""
        self._load()
        return list(self._entries)

    def items(self) -> list[tuple[str, T]]:
        self._load()
        return list(self._entries.items())

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())
