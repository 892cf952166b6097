"""Named parity runs (``--preset``): argument lists and default traced pixels (slow, fast)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

INPUTS_ENV = "TORCHBRAGG_INPUTS"

#: The users' real command (golden case ``supervisor_full``); ``{inputs}`` is the folder that
#: holds A.mat and scaled.hkl (third-party data, never copied into the repository).
SUPERVISOR_ARGV = [
    "-mat", "{inputs}/A.mat", "-hkl", "{inputs}/scaled.hkl", "-nonoise", "-nointerpolate",
    "-oversample", "1", "-exposure", "1", "-flux", "1e18", "-beamsize", "1.0",
    "-spindle_axis", "-1", "0", "0", "-Xbeam", "217.742295", "-Ybeam", "213.907080",
    "-distance", "231.274660", "-lambda", "0.976800", "-pixel", "0.172",
    "-detpixels_x", "2463", "-detpixels_y", "2527",
    "-odet_vector", "-0.000088", "0.004914", "-0.999988",
    "-sdet_vector", "-0.005998", "-0.999970", "-0.004913",
    "-fdet_vector", "0.999982", "-0.005998", "-0.000118",
    "-pix0_vector_mm", "-216.336293", "215.205512", "-230.200866",
    "-beam_vector", "0.00051387949", "0.0", "-0.99999986",
    "-Na", "36", "-Nb", "47", "-Nc", "29", "-osc", "0.1", "-phi", "0", "-phisteps", "10",
    "-detector_rotx", "0", "-detector_roty", "0", "-detector_rotz", "0", "-twotheta", "0",
    "-noprogress",
]
SUPERVISOR_INPUTS = ("A.mat", "scaled.hkl")
SUPERVISOR_PIXELS = [(685, 1039), (1039, 685)]
#: (fast, slow) detector pixels of the supervisor geometry
SUPERVISOR_SIZE = (2463, 2527)

#: The default of ``nox -s parity-cpu`` and of the payload: the users' supervisor geometry
#: (detector, vectors, beam, flux, N, phi steps: every flag of :data:`SUPERVISOR_ARGV`) on the
#: project's own generated crystal (:mod:`torchbragg.parity.crystal_inputs`), so a fresh clone
#: runs a full-size parity job with no input files of its own.
SUPERVISOR_LIKE = "supervisor-like"
#: the supervisor's two pixels (slow, fast), and the brightest pixel of the generated crystal's
#: image (a Bragg peak, so the trace follows a strong reflection through the whole chain)
SUPERVISOR_LIKE_PIXELS = [*SUPERVISOR_PIXELS, (961, 1593)]

SMOKE_ARGV = [
    "-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100", "-N", "5",
    "-lambda", "1", "-distance", "100", "-detpixels", "64", "-pixel", "0.1",
    "-nonoise", "-nopgm", "-noprogress",
]


class PresetError(ValueError):
    """Unknown preset, or its input files cannot be found."""


@dataclass(frozen=True)
class Preset:
    name: str
    args: list[str]
    pixels: list[tuple[int, int]]
    description: str
    #: detector (fast, slow) pixels, for reports; None when not known in advance
    size: tuple[int, int] | None = None


def inputs_dir() -> Path:
    """``$TORCHBRAGG_INPUTS`` or ``../shared/golden/inputs`` relative to the repository."""
    env = os.environ.get(INPUTS_ENV)
    if env:
        path = Path(env)
    else:
        repo = Path(__file__).resolve().parents[3]
        path = repo.parent / "shared" / "golden" / "inputs"
    missing = [n for n in SUPERVISOR_INPUTS if not (path / n).is_file()]
    if missing:
        where = f"${INPUTS_ENV}={env}" if env else f"{path} (set ${INPUTS_ENV})"
        raise PresetError(f"preset 'supervisor' needs {', '.join(missing)} in {where}: "
                          f"point {INPUTS_ENV} at the folder holding A.mat and scaled.hkl")
    return path.resolve()


def supervisor_like_argv(files: dict[str, Path]) -> list[str]:
    """:data:`SUPERVISOR_ARGV` with ``-mat``/``-hkl`` pointing at the generated files."""
    from torchbragg.parity.crystal_inputs import HKL_NAME, MAT_NAME

    swap = {"{inputs}/A.mat": str(files[MAT_NAME]), "{inputs}/scaled.hkl": str(files[HKL_NAME])}
    args = [swap.get(a, a) for a in SUPERVISOR_ARGV]
    assert not any("{inputs}" in a for a in args)
    return args


def get_preset(name: str) -> Preset:
    if name == "supervisor":
        inputs = str(inputs_dir())
        return Preset(name, [a.replace("{inputs}", inputs) for a in SUPERVISOR_ARGV],
                      list(SUPERVISOR_PIXELS),
                      "the users' supervisor command (2463x2527 detector, A.mat, scaled.hkl)",
                      SUPERVISOR_SIZE)
    if name == SUPERVISOR_LIKE:
        from torchbragg.parity import crystal_inputs

        try:
            files = crystal_inputs.write_crystal_inputs()
        except OSError as exc:
            raise PresetError(f"preset {SUPERVISOR_LIKE!r}: {exc}") from None
        return Preset(name, supervisor_like_argv(files), list(SUPERVISOR_LIKE_PIXELS),
                      "the users' supervisor geometry (2463x2527 detector, 10 phi steps) on "
                      "the project's own generated crystal (tetragonal 79.1x79.1x37.9 A, "
                      f"{crystal_inputs.REFLECTIONS} reflections to {crystal_inputs.D_MIN_A} A)",
                      SUPERVISOR_SIZE)
    if name == "smoke":
        return Preset(name, list(SMOKE_ARGV), [(32, 32)],
                      "small self-contained 64x64 run, no input files", (64, 64))
    raise PresetError(f"unknown preset {name!r} (choose from: {', '.join(PRESETS)})")


PRESETS = (SUPERVISOR_LIKE, "supervisor", "smoke")
