"""torchbragg: a differentiable, GPU-ready PyTorch reimplementation of nanoBragg.

Public API (imported lazily, so ``import torchbragg`` stays cheap):

* :func:`simulate` — ``SimulationConfig`` → image tensor ``[spixels, fpixels]``
* :func:`config_from_argv` — a configuration from a nanoBragg command line
* :mod:`torchbragg.config` — the frozen configuration dataclasses
* :mod:`torchbragg.compat` — the compatibility profiles (``nanobragg``, ``corrected``)
"""
from __future__ import annotations

from torchbragg._version import __version__
__all__ = ["simulate", "config_from_argv", "__version__"]


def __getattr__(name):
    if name in ("simulate", "config_from_argv"):
        from torchbragg import api as _sim

        return getattr(_sim, name)
    raise AttributeError(f"module 'torchbragg' has no attribute {name!r}")
