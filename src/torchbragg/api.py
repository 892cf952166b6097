"""The Python API: configuration in, image tensor out.

>>> from torchbragg import simulate, config_from_argv
>>> cfg = config_from_argv("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -detpixels 64".split())
>>> image = simulate(cfg)                       # torch.float64 tensor [spixels, fpixels]
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch

from torchbragg.config import SimulationConfig


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
             dtype: torch.dtype = torch.float64, chunk_pixels: Optional[int] = None
             ) -> torch.Tensor:
    """Render the image (photons per pixel) as a ``[spixels, fpixels]`` tensor in ``dtype``.

    Pixels outside the ROI or masked are 0. The C reference stores ``image.to(float32)``.
    Fields given as tensors that require gradients are differentiated; one without a
    derivative, or without effect on the image, raises ``InputError`` (docs/gradients.md).
    """
    from torchbragg.gradfields import check_fields, check_reached
    from torchbragg.physics.render import render, rendered_indices
    from torchbragg.physics.setup import build_experiment, make_plan

    check_fields(config)
    exp = build_experiment(config)
    plan = make_plan(exp, device, dtype)
    indices = rendered_indices(plan, config.sampling.roi, config.sampling.mask)
    image = render(plan, indices, chunk=chunk_pixels).values.to(dtype)
    check_reached(config, image)
    return image
