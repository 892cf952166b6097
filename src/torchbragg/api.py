"""The Python API: configuration in, image tensor out.

>>> from torchbragg import simulate, config_from_argv
>>> cfg = config_from_argv("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -detpixels 64".split())
>>> image = simulate(cfg)                       # torch.float64 tensor [spixels, fpixels]

Many command lines in one process (each exactly as its own ``torchbragg`` run: console text,
files, exit status), reusing the imports and the loaded compiled kernels:

>>> from torchbragg.api import run_command
>>> status = run_command("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -detpixels 64 "
...                      "-floatfile img.bin -nonoise -nopgm", cwd="/tmp")
"""
from __future__ import annotations

import os
import shlex
import signal
from typing import Optional, Sequence, Union

import torch

from torchbragg.config import SimulationConfig
from torchbragg.physics.compiled import CompilePolicy


def config_from_argv(argv: Union[str, Sequence[str]]) -> SimulationConfig:
    """A configuration from a nanoBragg command line (reads the input files it names).

    Structure factors come from ``-hkl`` (or the cache in the current folder, as the C does);
    output options are ignored.
    """
    from torchbragg.cli.load import load_structure_factors, parse_argv

    argv = argv.split() if isinstance(argv, str) else list(argv)
    loaded = parse_argv(argv)
    load_structure_factors(loaded, lambda line: None)
    return loaded.config


def simulate(config: SimulationConfig, *, device: Union[str, torch.device] = "cpu",
             dtype: torch.dtype = torch.float64, chunk_pixels: Optional[int] = None,
             compile: Union[str, CompilePolicy] = "auto") -> torch.Tensor:
    """Render the image (photons per pixel) as a ``[spixels, fpixels]`` tensor in ``dtype``.

    Pixels outside the ROI or masked are 0. The C reference stores ``image.to(float32)``.
    Fields given as tensors that require gradients are differentiated; one without a
    derivative, or without effect on the image, raises ``InputError`` (docs/gradients.md).
    ``compile``: ``auto`` (default, as the ``torchbragg`` command: cached compiled kernels
    for runs that are not tiny, built for very large ones), ``on``, ``off``, or a
    :class:`~torchbragg.physics.compiled.CompilePolicy` (docs/performance.md); the images are
    the same bits. The environment is not read (``TORCHBRAGG_COMPILE`` is the command's).
    """
    from torchbragg.gradfields import check_fields, check_reached
    from torchbragg.physics.render import render
    from torchbragg.physics.workload import rendered_indices
    from torchbragg.physics.setup import build_experiment, make_plan

    check_fields(config)
    exp = build_experiment(config)
    plan = make_plan(exp, device, dtype)
    indices = rendered_indices(plan, config.sampling.roi, config.sampling.mask)
    policy = compile if isinstance(compile, CompilePolicy) else CompilePolicy.from_mode(compile)
    image = render(plan, indices, chunk=chunk_pixels, compile=policy).values.to(dtype)
    check_reached(config, image)
    return image


def run_command(argv: Union[str, Sequence[str]], *, cwd: Optional[str] = None) -> int:
    """Run one ``torchbragg`` command line in this process; its exit status (never raised).

    The same as the ``torchbragg`` command with these arguments: the console text goes to
    ``sys.stdout``/``sys.stderr`` (redirect them to capture it), the same files are written,
    errors give the same one-line message and status (README "Exit status and errors"); 130
    means Ctrl-C reached the run. ``argv``: a list, or a string split as a POSIX shell would;
    ``cwd``: the run's working folder (the caller's is restored). The process's SIGTERM
    handler is restored afterwards too.
    """
    from torchbragg.cli.main import main

    argv = shlex.split(argv) if isinstance(argv, str) else list(argv)
    old_cwd = os.getcwd() if cwd is not None else None
    old_term = _sigterm_handler()
    try:
        if cwd is not None:
            os.chdir(cwd)
        return main(argv)
    finally:
        if old_cwd is not None:
            os.chdir(old_cwd)
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


def _sigterm_handler():
    """The current SIGTERM handler where it can be restored (main thread), else None."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.getsignal(signal.SIGTERM)
