"""The registry of entity kinds: every list of kinds in rbsync is read from here.

The poll schedule, the CLI's choices, ``sync --once``, the pipeline's dependency pass and the
bench iterate :func:`all_kinds`; nothing else lists kinds. The kinds are found, not listed:
every module of the ``kinds`` package that defines ``KIND`` (an :class:`EntityKind`) is one,
ordered by ``KIND.order`` (dependencies first), so a new kind is a new module and nothing
else here. A test may :func:`register` a kind of its own (``docs/architecture.md``, "Adding a
kind").
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import kinds
from kinds.links import SHARED_LOADERS
from kinds.spec import EntityKind, IndexLoader

__all__ = [
    "all_kinds",
    "get",
    "index_loaders",
    "members",
    "names",
    "register",
    "registered",
    "unregister",
]


def _discover() -> dict[str, EntityKind]:
    """Every ``KIND`` of the modules of the ``kinds`` package, in order."""
    found: list[EntityKind] = []
    for module in pkgutil.iter_modules(kinds.__path__):
        if module.name == "registry":
            continue
        kind = getattr(importlib.import_module(f"kinds.{module.name}"), "KIND", None)
        if isinstance(kind, EntityKind):
            found.append(kind)
    found.sort(key=lambda kind: (kind.order, kind.name))
    return {kind.name: kind for kind in found}


_KINDS: dict[str, EntityKind] = _discover()


def all_kinds() -> list[EntityKind]:
    """Every registered kind, in order (dependencies first)."""
    return list(_KINDS.values())


def names() -> list[str]:
    """The names of every registered kind, in order."""
    return list(_KINDS)


def get(name: str) -> EntityKind:
    """The kind called ``name``; a ``ValueError`` naming the known ones otherwise."""
    try:
        return _KINDS[name]
    except KeyError:
        raise ValueError(f"unknown kind {name!r}; expected one of {', '.join(_KINDS)}") from None


def members(name: str) -> list[EntityKind]:
    """The kinds a dependency ``name`` may be: the kind itself, or every kind of the group
    ``name`` (``item``: products and BOMs), in order."""
    if name in _KINDS:
        return [_KINDS[name]]
    found = [kind for kind in _KINDS.values() if kind.group == name]
    if not found:
        raise ValueError(f"no kind or group of kinds is called {name!r}")
    return found


def index_loaders() -> Mapping[str, IndexLoader]:
    """Every bulk index rbsync can load: the kinds' own and the shared dependencies'."""
    loaders: dict[str, IndexLoader] = dict(SHARED_LOADERS)
    for kind in _KINDS.values():
        loaders.update(kind.loaders)
    return loaders


def register(kind: EntityKind) -> None:
    """Add ``kind`` (in its ``order``); its name must be new."""
    if kind.name in _KINDS:
        raise ValueError(f"a kind called {kind.name!r} is registered already")
    ordered = sorted([*_KINDS.values(), kind], key=lambda k: (k.order, k.name))
    _KINDS.clear()
    _KINDS.update((k.name, k) for k in ordered)


def unregister(name: str) -> None:
    """Remove the kind called ``name``."""
    del _KINDS[name]


@contextmanager
def registered(kind: EntityKind) -> Iterator[EntityKind]:
    """``kind`` registered for the block (tests)."""
    register(kind)
    try:
        yield kind
    finally:
        unregister(kind.name)
