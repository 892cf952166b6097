"""Second derivatives of a loss of simulated images: Hessian-vector products and the
curvature diagonal (docs/gradients.md).

Both differentiate the gradient once more (``create_graph=True``). The pixel chunks of
:func:`torchbragg.simulate` run under non-reentrant checkpointing, which records the graph
of the recomputed chunk, so the second pass goes through the same chunks.

>>> def loss(d_mm):                                        # doctest: +SKIP
...     det = replace(cfg.detector, distance_m=d_mm / 1000)
...     return ((simulate(replace(cfg, detector=det)) - observed) ** 2).sum()
>>> curvature_diagonal(loss, [torch.tensor(100.0, dtype=torch.float64)])  # doctest: +SKIP
"""
from __future__ import annotations

from typing import Callable, List, Sequence

import torch


def _leaves(params: Sequence[torch.Tensor]) -> List[torch.Tensor]:
    return [p.detach().clone().requires_grad_(True) for p in params]


def hessian_vector_product(loss_fn: Callable[..., torch.Tensor],
                           params: Sequence[torch.Tensor],
                           vector: Sequence[torch.Tensor]) -> List[torch.Tensor]:
    """H·v at ``params`` for the scalar ``loss_fn(*params)`` (one forward, two backward
    passes); ``vector`` has the shapes of ``params``."""
    xs = _leaves(params)
    grads = torch.autograd.grad(loss_fn(*xs), xs, create_graph=True)
    dot = sum((g * v.to(g)).sum() for g, v in zip(grads, vector))
    return list(torch.autograd.grad(dot, xs))


def curvature_diagonal(loss_fn: Callable[..., torch.Tensor],
                       params: Sequence[torch.Tensor]) -> List[torch.Tensor]:
    """∂²L/∂p_i² for each scalar (0-dim) parameter: one forward, one backward pass with its
    graph, and one more backward pass per parameter (meant for a few parameters; for the
    inverse curvature, e.g. standard errors, take the full Hessian from
    :func:`hessian_vector_product` with unit vectors)."""
    xs = _leaves(params)
    grads = torch.autograd.grad(loss_fn(*xs), xs, create_graph=True)
    out = []
    for i, (g, x) in enumerate(zip(grads, xs)):
        (h,) = torch.autograd.grad(g, x, retain_graph=i + 1 < len(xs))
        out.append(h)
    return out
