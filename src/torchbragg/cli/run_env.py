"""The environment of a command-line run (the only place its variables are read;
docs/performance.md).

- The compile policy: the ``-compile`` flag, else ``TORCHBRAGG_COMPILE``: ``auto`` (default),
  ``on`` or ``off``, in any case; another value of the variable is taken as ``auto`` (the
  flag's value is checked where it is parsed).
- ``TORCHBRAGG_NATIVE=0`` forbids the small C helpers (:mod:`torchbragg.native`).
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Callable, Mapping, Optional

from torchbragg import native

if TYPE_CHECKING:
    from torchbragg.physics.compiled import CompilePolicy

COMPILE_ENV = "TORCHBRAGG_COMPILE"
NATIVE_ENV = "TORCHBRAGG_NATIVE"


def compile_policy(notify: Optional[Callable[[str], None]] = None, flag: Optional[str] = None,
                   environ: Mapping[str, str] = os.environ) -> "CompilePolicy":
    """The policy of a run: ``flag`` (``-compile``) when given, else what
    ``TORCHBRAGG_COMPILE`` selects; its notes go to ``notify``."""
    from torchbragg.physics.compiled import CompilePolicy
    from torchbragg.physics.compiled.policy import MODES

    if flag is not None:
        return CompilePolicy.from_mode(flag, notify=notify)
    mode = environ.get(COMPILE_ENV, "auto").strip().lower()
    return CompilePolicy.from_mode(mode if mode in MODES else "auto", notify=notify)


def apply_native(environ: Mapping[str, str] = os.environ) -> None:
    """Allow the C helpers unless ``TORCHBRAGG_NATIVE`` is ``0``."""
    native.set_enabled(environ.get(NATIVE_ENV, "1").strip() != "0")
