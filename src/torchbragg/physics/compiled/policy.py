"""The compile policy: whether a run uses compiled packages, passed in from outside physics.

``render(plan, indices, compile=CompilePolicy("auto"))``: the policy decides once per run
(:meth:`CompilePolicy.eager_reason`, the one eager-versus-compiled predicate) and hands the
renderer its kernel functions (:class:`Kernels`). Physics never reads the environment: the
command line turns ``TORCHBRAGG_COMPILE`` into a policy (``cli/run_env.py``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional

from torchbragg._cbuild import cache_root
from torchbragg.physics import block_native, geometry_native
from torchbragg.physics.compiled import block as cblock
from torchbragg.physics.compiled import chunk as cchunk

MODES = ("auto", "on", "off")
#: evaluations (pixels × rows × sources × sub-pixels) from which ``auto`` builds missing
#: packages: eager needs ~50 ns per evaluation more than compiled on 2 cores, so a build
#: (~25 s per package) pays for itself within the run from about here
AUTO_BUILD_EVALUATIONS = 2e9
#: evaluations below which ``auto`` keeps the eager kernel even with packages at hand
MIN_COMPILED_EVALUATIONS = 1e6
#: evaluations from which a run that finds no package for its configuration says so
#: (eager takes seconds longer there)
NOTE_MISSING_EVALUATIONS = 1e7
MISSING_NOTE = ("no compiled kernel for this configuration in the cache yet: rendering eagerly "
                "(slower); `torchbragg --prepare ARGS…` builds it once (15 s to a few minutes), or "
                "TORCHBRAGG_COMPILE=on builds it on the next run")


@dataclass(frozen=True)
class CompilePolicy:
    """How a run chooses between the eager kernel and compiled packages (CPU only).

    ``mode``: ``auto`` (compiled packages when cached and the run has at least
    ``min_evaluations`` evaluations; missing ones are built from ``build_evaluations``),
    ``on`` (always compiled, building missing packages) or ``off`` (eager only).
    ``cache``: the folder holding ``aoti/`` (packages) and ``inductor/`` (the compiler's
    files while building); None: the project's cache (``$TORCHBRAGG_CACHE``, default
    ``~/.cache/torchbragg``). ``notify`` receives one-line notes (building, fallbacks).
    """

    mode: str = "auto"
    min_evaluations: float = MIN_COMPILED_EVALUATIONS
    build_evaluations: float = AUTO_BUILD_EVALUATIONS
    note_missing_evaluations: float = NOTE_MISSING_EVALUATIONS
    cache: Optional[Path] = None
    notify: Optional[Callable[[str], None]] = None

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"compile mode {self.mode!r}: expected one of {', '.join(MODES)}")

    @classmethod
    def from_mode(cls, text: str, **fields) -> "CompilePolicy":
        """The policy for a mode given as text (``auto``, ``on``, ``off``, any case);
        ValueError for another word."""
        return cls(text.strip().lower(), **fields)

    def folder(self) -> Path:
        """The cache folder (see the class docstring)."""
        return Path(self.cache) if self.cache is not None else cache_root()

    def eager_reason(self, plan, work: float, differentiable: bool = False,
                     kind: str = "block") -> Optional[str]:
        """Why a run of ``plan`` with ``work`` evaluations stays eager (``kind``: ``block``
        or ``chunk`` packages), or None when it uses packages: the one place that decides."""
        if self.mode == "off":
            return "runs stay eager"
        if differentiable:
            return "gradients are computed through the eager kernel"
        if plan.device.type != "cpu":
            return f"the compiled kernels are CPU code; a {plan.device.type} run is eager"
        if any(plan.shape.continuous):  # (lattice_factor.sincg_continuous: eager only)
            return "a continuous (tensor) N is rendered eagerly"
        if self.mode == "auto" and work < self.min_evaluations:
            return (f"{work:.3g} evaluations: under {self.min_evaluations:.0e}, "
                    "auto keeps such runs eager")
        if kind == "chunk" and not cchunk.covers(plan):
            return "no whole-chunk package for this configuration"
        return None

    def builds(self, work: float) -> bool:
        """Whether missing packages are built (for a run that uses packages)."""
        return self.mode == "on" or work >= self.build_evaluations

    def package_paths(self, plan) -> List[Path]:
        """The packages a compiled run of ``plan`` may load: its chunk package where the
        configuration has one, and its block packages."""
        chunk = [cchunk.chunk_path(plan, self.folder())] if cchunk.covers(plan) else []
        return chunk + cblock.block_paths(plan, self.folder())

    def kernels(self, plan, work: float, differentiable: bool = False) -> "Kernels":
        """The kernel functions of a run of ``plan`` with ``work`` evaluations."""
        return Kernels(self, plan, work, differentiable)

    def block_fn(self, plan, work: float, differentiable: bool) -> Callable:
        """The block function: the block packages, or the eager block (the native one of
        :mod:`block_native` where it serves, else :func:`block_accumulate`)."""
        if self.eager_reason(plan, work, differentiable) is not None:
            return block_native.block_fn(plan, differentiable)
        build = self.builds(work)
        fn = cblock.compiled_block(plan, self.folder(), build, self.notify)
        if fn is not None:
            return fn
        # (not for an interpolating run: its chunks take the interpolating eager pass, which
        # no package serves, so a package would help only the chunks after a switch-off, Q11)
        if (not build and self.notify is not None and work >= self.note_missing_evaluations
                and not plan.interpolate
                and not all(p.exists() for p in cblock.block_paths(plan, self.folder()))):
            self.notify(MISSING_NOTE)
        return block_native.block_fn(plan, differentiable)


#: the eager kernel only
EAGER = CompilePolicy("off")


class Kernels:
    """A run's kernel functions as its policy chose them.

    ``block``: the block function for :func:`kernel.render_chunk` (packages or eager);
    ``interpolating``: the native block of its interpolating (``on``) passes, or None;
    ``chunk``: a :class:`chunk.CompiledChunk`, or None. While a whole-chunk package is in use
    the eager chunks (the run's first φ loop, traces) use the eager block; when that package
    turns out to differ from eager, the run goes on with the block packages.
    """

    def __init__(self, policy: CompilePolicy, plan, work: float, differentiable: bool):
        self.policy, self.plan, self.work = policy, plan, work
        self.differentiable = differentiable
        self.chunk = None
        if policy.eager_reason(plan, work, differentiable, kind="chunk") is None:
            self.chunk = cchunk.compiled_chunk(plan, policy.folder(), policy.builds(work),
                                               policy.notify)
        self.block = (block_native.block_fn(plan, differentiable) if self.chunk is not None
                      else policy.block_fn(plan, work, differentiable))
        #: the ``on`` passes' native interpolating block (None: their tensor path)
        self.interpolating = block_native.interpolating_block(plan, differentiable)
        #: the eager chunks' native sub-pixel geometry (None: its tensor path)
        self.geometry = geometry_native.subpixel_geometry(plan, differentiable)

    def whole_chunk(self, s, f, eager: Callable):
        """The chunk (``s``, ``f``) through the whole-chunk package (``eager()``: the same
        chunk through :func:`kernel.render_chunk`, for the check and small chunks)."""
        result = self.chunk.render(s, f, eager)
        if self.chunk.differs:
            self.chunk = None
            self.block = self.policy.block_fn(self.plan, self.work, self.differentiable)
        return result
