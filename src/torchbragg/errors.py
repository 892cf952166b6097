"""Errors that end a run with a one-line message and a documented exit status.

Exit statuses (shared by the CLI, the C reference and the tools):

* 0 — success
* 9 — bad input: unusable flag value, missing or malformed input file (the C reference's code)
* 10 — an output file cannot be written
* 2 — usage error of a helper tool (``torchbragg-parity``, ``torchbragg-cref``)
"""
from __future__ import annotations

EXIT_INPUT = 9
EXIT_OUTPUT = 10
EXIT_USAGE = 2


class TorchBraggError(Exception):
    """Base class: carries the exit status the CLI returns."""

    exit_status = EXIT_INPUT


class InputError(TorchBraggError):
    """A flag value or an input file cannot be used (names the flag, file or line)."""

    exit_status = EXIT_INPUT


class OutputError(TorchBraggError):
    """An output file cannot be written."""

    exit_status = EXIT_OUTPUT
