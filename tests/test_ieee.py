"""The correctly rounded square root (physics/ieee.py) against the C library's."""
import math
import random

import pytest
import torch

from torchbragg.physics import ieee


def _samples(n=20000, seed=3):
    rng = random.Random(seed)
    return [rng.uniform(0.5, 2.0) * 10.0 ** rng.uniform(-40, 40) for _ in range(n)]


def test_float64_matches_libm_where_torch_sqrt_does_not():
    xs = _samples()
    x = torch.tensor(xs, dtype=torch.float64)
    want = torch.tensor([math.sqrt(v) for v in xs], dtype=torch.float64)
    assert torch.equal(ieee.sqrt(x), want)
    # the correction path used inside compiled graphs and on other devices
    assert torch.equal(ieee._corrected(torch.sqrt(x), x), want)


def test_float32_is_correctly_rounded():
    xs = [v for v in _samples(seed=5) if 1e-30 < v < 1e30]
    x = torch.tensor(xs, dtype=torch.float32)
    # binary64 root rounded to binary32 is the correctly rounded binary32 root
    want = torch.sqrt(x.to(torch.float64)).to(torch.float32)
    assert torch.equal(ieee.sqrt(x), want)
    assert torch.equal(ieee._corrected(torch.sqrt(x), x), want)


def test_special_values_strided_and_scalar_inputs():
    x = torch.tensor([0.0, -0.0, 4.0, float("inf"), -1.0, float("nan")], dtype=torch.float64)
    got = ieee.sqrt(x)
    assert got[:4].tolist() == [0.0, 0.0, 2.0, float("inf")]
    assert math.copysign(1.0, float(got[1])) == -1.0
    assert torch.isnan(got[4:]).all()
    wide = torch.arange(1.0, 41.0, dtype=torch.float64).reshape(4, 10)
    want = torch.tensor([[math.sqrt(v) for v in row] for row in wide.t().tolist()],
                        dtype=torch.float64)
    assert torch.equal(ieee.sqrt(wide.t()), want)
    assert float(ieee.sqrt(torch.tensor(2.0, dtype=torch.float64))) == math.sqrt(2.0)


def test_gradient_is_torch_sqrt_gradient():
    x = torch.tensor([0.25, 2.0, 9.0], dtype=torch.float64, requires_grad=True)
    y = ieee.sqrt(x)
    assert y.requires_grad
    y.sum().backward()
    assert torch.allclose(x.grad, 0.5 / torch.sqrt(x.detach()), rtol=0, atol=1e-15)
    with torch.no_grad():
        assert not ieee.sqrt(x).requires_grad


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_exported_graph_keeps_exact_root(dtype):
    class Root(torch.nn.Module):
        def forward(self, v):
            return ieee.sqrt(v)

    xs = _samples(2000, seed=9)
    x = torch.tensor([v for v in xs if 1e-30 < v < 1e30], dtype=dtype)
    program = torch.export.export(Root(), (x,))
    assert torch.equal(program.module()(x), ieee.sqrt(x))
