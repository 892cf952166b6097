"""The switch for the small C helpers: structure-factor lookups
(:mod:`torchbragg.physics.tricubic_native`) and the noise image (:mod:`torchbragg.io.noise`).

Each helper gives the bits of its tensor or Python path, only faster, so the switch changes no
output. On by default; the command line turns it off with ``TORCHBRAGG_NATIVE=0`` (read at
its edge, :mod:`torchbragg.cli.run_env`), API callers with :func:`use_native`.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

_enabled = [True]


def enabled() -> bool:
    """Whether the helpers may be used (each is also skipped where it cannot be built)."""
    return _enabled[0]


def set_enabled(on: bool) -> None:
    """Allow (True) or forbid (False) the helpers for this process."""
    _enabled[0] = bool(on)


@contextmanager
def use_native(on: bool) -> Iterator[None]:
    """Allow or forbid the helpers inside a ``with`` block (the previous setting after it)."""
    before = _enabled[0]
    _enabled[0] = bool(on)
    try:
        yield
    finally:
        _enabled[0] = before
