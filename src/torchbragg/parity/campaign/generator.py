"""The campaign's random suite: its input files and one command line per seed.

:func:`write_campaign_inputs` writes the project's own small input files (and copies the
spec's ``inputs`` folder) into the bundle's ``inputs/``; :func:`campaign_argv` draws a
command line that may name them as ``inputs/NAME``.
"""
from __future__ import annotations

import random
import shutil
from pathlib import Path

from torchbragg.parity.case_inputs import write_inputs
from torchbragg.parity.random_argv import random_argv


def write_campaign_inputs(folder: Path, user_inputs: str | None = None) -> dict:
    """Write the generated inputs (and copy the user's) into ``folder``; role → file name."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = write_inputs(folder)
    if user_inputs:
        src = Path(user_inputs)
        if not src.is_dir():
            from torchbragg.parity.campaign.spec import SpecError
            raise SpecError(f"inputs: {src} is not a folder")
        for path in sorted(src.iterdir()):
            if path.is_file():
                shutil.copyfile(path, folder / path.name)
    return names


def campaign_argv(rng: random.Random, names: dict) -> list:
    """One random command line; input files by ``inputs/NAME``."""
    return random_argv(rng, inputs={role: f"inputs/{name}" for role, name in names.items()})
