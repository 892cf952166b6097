"""Second derivatives through the checkpointed pixel chunks: H·v and the curvature diagonal
against central differences of the gradient (float64)."""
from __future__ import annotations

from dataclasses import replace

import torch

from torchbragg import config_from_argv, simulate
from torchbragg.curvature import curvature_diagonal, hessian_vector_product
from torchbragg.physics.vec3 import RTD

CFG = config_from_argv("-cell 60 70 80 85 95 100 -misset 10 20 30 -default_F 100 -N 4 "
                       "-lambda 1.2 -distance 40 -detpixels 8 -pixel 0.4 -oversample 1 "
                       "-polar 0.5 -mosaic 0.5 -mosaic_domains 2")
P0 = [40.0, 10.0, 4.3]  # distance (mm), misset x (degrees), N along a


def _image(d_mm, rx_deg, na):
    det = replace(CFG.detector, distance_m=d_mm / 1000)
    crystal = replace(CFG.crystal, misset_rad=(rx_deg / RTD, 20 / RTD, 30 / RTD), Na=na)
    return simulate(replace(CFG, detector=det, crystal=crystal), chunk_pixels=24)  # 3 chunks


TARGET = _image(*(torch.tensor(v + 0.01, dtype=torch.float64) for v in P0)).detach()


def _loss(*p):
    return ((_image(*p) - TARGET) ** 2).sum()


def _grad(p):
    xs = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in p]
    return torch.stack(torch.autograd.grad(_loss(*xs), xs))


def _fd_of_gradient(v, h):
    def d(s):
        return (_grad([a + s * b for a, b in zip(P0, v)])
                - _grad([a - s * b for a, b in zip(P0, v)])) / (2 * s)
    return (4 * d(h / 2) - d(h)) / 3


def test_hessian_vector_product_matches_differences_of_the_gradient():
    v = [0.3, -0.5, 0.2]
    params = [torch.tensor(x, dtype=torch.float64) for x in P0]
    hv = torch.stack(hessian_vector_product(_loss, params,
                                            [torch.tensor(x, dtype=torch.float64) for x in v]))
    fd = _fd_of_gradient(v, 1e-3)
    assert torch.linalg.norm(hv - fd) <= 1e-6 * torch.linalg.norm(fd), (hv, fd)


def test_curvature_diagonal_matches_differences_of_the_gradient():
    params = [torch.tensor(x, dtype=torch.float64) for x in P0]
    diag = torch.stack(curvature_diagonal(_loss, params))
    for i in range(3):
        e = [1.0 if j == i else 0.0 for j in range(3)]
        fd = _fd_of_gradient(e, 1e-3)[i]
        assert abs(float(diag[i]) - float(fd)) <= 1e-6 * abs(float(fd)), (i, diag, fd)
    assert (diag > 0).all()  # near the minimum, along each axis
