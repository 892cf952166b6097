"""Shared fixtures: the golden data folder (optional), a live note on the terminal, helpers."""
from __future__ import annotations

import contextlib
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


NO_GOLDEN = "golden data not found: set TORCHBRAGG_GOLDEN or provide ../shared/golden"
NO_FUZZ = ("golden-fuzz data not found: set TORCHBRAGG_GOLDEN_FUZZ or provide "
           "../shared/golden-fuzz (its cases also read ../shared/golden)")


def find_golden_fuzz() -> Path | None:
    """``$TORCHBRAGG_GOLDEN_FUZZ`` or ``../shared/golden-fuzz``: upstream outputs for random
    command lines (same format as the golden set; its cases read the golden set's inputs as
    ``../../golden/inputs/...``), if present together with the golden set."""
    if find_golden() is None:
        return None
    env = os.environ.get("TORCHBRAGG_GOLDEN_FUZZ")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "golden-fuzz")
    for path in candidates:
        if (path / "MANIFEST.json").is_file():
            return path
    return None


def golden_cases(golden: Path | None) -> list:
    """Case names for ``parametrize``; without golden data one skipped placeholder that says
    why (an empty parameter set would skip without the reason)."""
    if golden is None:
        return [pytest.param("no-golden", marks=pytest.mark.skip(reason=NO_GOLDEN))]
    return sorted(p.parent.name for p in golden.glob("*/case.json"))


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    path = find_golden()
    if path is None:
        pytest.skip(NO_GOLDEN)
    return path


def terminal_note(config: pytest.Config, text: str) -> None:
    """Write ``text`` on its own line of pytest's terminal at once, even while the test's output
    is captured and under ``-q`` (as live logging does): long steps, such as building compiled
    packages, then show progress instead of a silent minute."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:  # e.g. -p no:terminal
        return
    capture = config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        if getattr(reporter._tw, "width_of_current_line", 1):  # after progress dots or a name
            reporter.write("\n")
        reporter.write_line(text)
        reporter.flush()


@pytest.fixture()
def live_note(request):
    """``live_note(text)``: :func:`terminal_note` prefixed with the running test's name."""
    return lambda text: terminal_note(request.config, f"[{request.node.name}] {text}")


@pytest.fixture(autouse=True)
def _no_cache_left_in_the_working_folder():
    """A test that reads an HKL file from the working folder's point of view leaves
    ``Fdump.bin`` there, and every later ``-default_F`` run in the process reads it (as the C
    does): such a test fails here, naming itself, instead of a later test failing."""
    before = os.path.exists("Fdump.bin")
    yield
    if not before and os.path.exists("Fdump.bin"):
        os.remove("Fdump.bin")
        pytest.fail(f"the test left Fdump.bin in the working folder {os.getcwd()}")


@pytest.fixture(scope="session")
def cref_bin() -> Path:
    """The C reference's binary, built once (skips where no C compiler can build it)."""
    from torchbragg import cref

    try:
        return cref.binary_path()
    except Exception as exc:  # no compiler on this machine
        pytest.skip(f"cannot build the C reference: {exc}")
