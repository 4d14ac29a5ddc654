"""Crawler sources, one module per source, each defining ``SOURCE``: a subclass of ``base.Source``.

A module placed here is a registered source: the contract test (tests/crawlers/test_source_contract.py)
runs each one and fails for a module that has no recorded fixtures.
"""

from __future__ import annotations

import importlib
import pkgutil

from tessera.crawlers.sources.base import Source

_NOT_SOURCES = {"base"}


def names() -> list[str]:
    """The registered source modules."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in _NOT_SOURCES)


def source_class(name: str) -> type[Source]:
    cls = importlib.import_module(f"{__name__}.{name}").SOURCE
    if not (isinstance(cls, type) and issubclass(cls, Source)):
        raise TypeError(f"{__name__}.{name}.SOURCE is not a Source")
    return cls
