"""Shared fixtures: the golden data folder (optional) and small helpers."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def find_golden() -> Path | None:
    """``$TORCHBRAGG_GOLDEN`` or ``../shared/golden`` beside the checkout, if present."""
    env = os.environ.get("TORCHBRAGG_GOLDEN")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "golden")
    for path in candidates:
        if (path / "MANIFEST.json").is_file():
            return path
    return None


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    path = find_golden()
    if path is None:
        pytest.skip("golden data not found: set TORCHBRAGG_GOLDEN or provide ../shared/golden")
    return path
