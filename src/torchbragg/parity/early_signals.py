"""Ctrl-C and SIGTERM while ``torchbragg-parity`` loads its modules (imported first by
:mod:`torchbragg.parity.cli`; its ``main`` then installs the real handlers).

Nothing exists yet at that point (no child, no scratch folder, no bundle), so the process
leaves at once with one line and 130 / 143 instead of a KeyboardInterrupt traceback or a
silent death by SIGTERM.
"""
from __future__ import annotations

import os
import signal
import threading


def early_signal(signum, frame):  # pragma: no cover - exercised through subprocesses
    word, status = ("interrupted", 130) if signum == signal.SIGINT else ("terminated", 143)
    os.write(2, f"torchbragg-parity: {word}\n".encode())
    os._exit(status)


def install() -> None:
    """:func:`early_signal` for SIGINT and SIGTERM where they still have their defaults."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig, default in ((signal.SIGINT, signal.default_int_handler),
                         (signal.SIGTERM, signal.SIG_DFL)):
        if signal.getsignal(sig) is default:
            signal.signal(sig, early_signal)


install()
