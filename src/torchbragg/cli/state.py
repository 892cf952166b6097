"""What the argv scan fills in: values by the field they are meant for.

Every flag action (:mod:`torchbragg.cli.actions`) and every SMV header key writes to a
*target* ``"section.field"``: a field of one of the frozen configs of
:class:`~torchbragg.config.SimulationConfig` (``detector``, ``beam``, ``crystal``,
``structure_factors``, ``sampling``) or of :class:`RunOptions` (``run``: files, output
scaling, diagnostics, torchbragg's extensions). The defaults are those of the dataclasses, so
each is stated once; a target not set reads its default.

Why a mutable state at all: the C's order-dependent rules (docs/behaviour/cli.md §6) read and
overwrite what earlier flags set: the last of a convention or vector flag decides the
convention and the last pivot side effect the pivot, ``-polar`` clears ``-nopolar``,
``-detector_abs inf`` zeroes a thickness a later ``-detector_thick`` restores, the mask
header's BEAM_CENTER_Y is measured from the extent the header just set, and ``-misset random``
is undone by later angles. After the scan, :mod:`torchbragg.cli.load` resolves what needs the
whole line (a pixel count beats an extent, ``-roi`` edges of −1, partial ``-cell``, seeds from
the clock) and builds the frozen configs from the sections.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Dict, Optional, Tuple

from torchbragg.config import (BeamConfig, CrystalConfig, DetectorConfig, SamplingConfig,
                               StructureFactors)


@dataclass(frozen=True)
class RunOptions:
    """The run's settings that are not physics: files, output scaling, console, extensions."""

    hklfile: Optional[str] = None
    dumpfile: str = "Fdump.bin"
    matfile: Optional[str] = None
    sourcefile: Optional[str] = None
    #: ``(flag, path)`` of each ``-stol``/``-4stol``/``-Q`` (read and checked, not used)
    stolfiles: Tuple[Tuple[str, str], ...] = ()
    #: the ``-mask`` file, once its pixels were read
    maskfile: Optional[str] = None
    floatfile: str = "floatimage.bin"
    intfile: str = "intimage.img"
    pgmfile: str = "image.pgm"
    noisefile: str = "noiseimage.img"
    write_pgm: bool = True
    write_noise: bool = True
    scale: float = 0.0
    pgmscale: float = 0.0
    adc: float = 40.0
    #: noise seed as the C stores it (negated); None until resolved from the clock
    seed: Optional[int] = None
    printout: bool = False
    printout_pixel: Optional[Tuple[int, int]] = None  # (fast, slow)
    progress: bool = True
    # extensions (not in the C)
    trace_pixels: Tuple[Tuple[int, int], ...] = ()  # (slow, fast)
    dtype: str = "float64"
    device: str = "cpu"
    profile: str = "nanobragg"
    chunk_pixels: Optional[int] = None
    #: ``-compile auto|on|off``; None: ``TORCHBRAGG_COMPILE`` decides
    compile: Optional[str] = None


SECTIONS = {"detector": DetectorConfig, "beam": BeamConfig, "crystal": CrystalConfig,
            "structure_factors": StructureFactors, "sampling": SamplingConfig,
            "run": RunOptions}

#: every target with its default
DEFAULTS: Dict[str, object] = {f"{name}.{f.name}": f.default
                               for name, cls in SECTIONS.items() for f in fields(cls)}
#: pixel counts start at 0, "not given" (a given count beats an extent: docs/behaviour/cli.md
#: §2.4); the resolved counts replace them
DEFAULTS.update({"detector.fpixels": 0, "detector.spixels": 0})


class ParseState:
    """The values set so far, by target (``state["beam.wavelength_m"]``)."""

    def __init__(self):
        self.values: Dict[str, object] = {}

    def __getitem__(self, target: str):
        return self.values[target] if target in self.values else DEFAULTS[target]

    def __setitem__(self, target: str, value) -> None:
        if target not in DEFAULTS:
            raise KeyError(f"no such target: {target}")
        self.values[target] = value

    def __contains__(self, target: str) -> bool:
        """Whether ``target`` was set (by a flag, a header or a resolution rule)."""
        return target in self.values

    def append(self, target: str, item) -> None:
        """Add ``item`` to a repeatable flag's tuple."""
        self[target] = tuple(self[target]) + (item,)

    def section(self, name: str) -> Dict[str, object]:
        """The values set for one section, by field name (keyword arguments of its class)."""
        prefix = name + "."
        return {t[len(prefix):]: v for t, v in self.values.items() if t.startswith(prefix)}
