"""A :class:`~torchbragg.physics.plan.KernelPlan` as a compiled package sees it.

:func:`split` gives the plan's *static* part — the values a package bakes in and the layout
of its inputs, the package's :class:`PlanKey` — and its *tensor* part, the exported inputs,
both from the roles plan.py declares on its fields; :func:`rebuild` makes the plan again
from the two inside the package (fields a package does not read are None there).
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Iterator, List, Tuple

import torch

from torchbragg.physics.lattice_factor import ShapeParams
from torchbragg.physics.plan import FIXED, NESTED, STATIC, TENSOR, KernelPlan
from torchbragg.physics.structure_factors import SFLookup

BLOCK, CHUNK = "block", "chunk"
#: the length of a structure-factor grid without a table (the export's smallest dynamic size)
NO_TABLE_GRID = 2
#: a dimension that varies from run to run (the export's dynamic sizes)
DYNAMIC = None


@dataclass(frozen=True)
class PlanKey:
    """What a package bakes in: ``(field, value or input layout)`` pairs for the fields a
    ``kind`` package reads, then the call's own switches (``extra``)."""

    kind: str
    items: tuple

    @property
    def dtype(self) -> str:
        """The block dtype, ``float64`` or ``float32``."""
        return str(dict(self.items)["dtype"]).replace("torch.", "")


def _roles(kind: str):
    """(field, role) for every plan field a ``kind`` package reads, in declaration order."""
    for f in fields(KernelPlan):
        role = f.metadata.get("package")
        if role in (STATIC, TENSOR, NESTED) and (kind == CHUNK or f.metadata["block"]):
            yield f, role


def split(plan: KernelPlan, kind: str, **extra) -> Tuple[PlanKey, List[torch.Tensor]]:
    """The plan's static part (a :class:`PlanKey`) and tensor part for a ``kind`` package."""
    items, tensors = [], []
    for f, role in _roles(kind):
        value = getattr(plan, f.name)
        if role == STATIC:
            items.append((f.name, value))
            continue
        layout, leaves = (_NESTED[f.name][0](value, plan) if role == NESTED
                          else _flatten(value))
        items.append((f.name, layout))
        tensors += leaves
    return PlanKey(kind, tuple(items) + tuple(sorted(extra.items()))), tensors


def rebuild(key: PlanKey, tensors: List[torch.Tensor]) -> KernelPlan:
    """The plan inside a package: the key's values, the inputs in their places, the fixed
    values of a whole-chunk package, None for what the package does not read."""
    items, leaves = dict(key.items), iter(tensors)
    values = {}
    for f in fields(KernelPlan):
        role = f.metadata.get("package")
        if f.name not in items:
            values[f.name] = f.metadata["value"] if role == FIXED and key.kind == CHUNK else None
        elif role == STATIC:
            values[f.name] = items[f.name]
        elif role == NESTED:
            values[f.name] = _NESTED[f.name][1](items[f.name], leaves)
        else:
            values[f.name] = _unflatten(items[f.name], leaves)
    return KernelPlan(**values)


def covered(plan: KernelPlan) -> bool:
    """Whether ``plan`` has the value of every :func:`plan.fixed` field."""
    return all(bool(getattr(plan, f.name) == f.metadata["value"]) for f in fields(KernelPlan)
               if f.metadata.get("package") == FIXED)


def dynamic_shapes(key: PlanKey, dims: dict) -> list:
    """The export's dynamic-shape specification of the tensor part: ``dims[field]`` for each
    :data:`DYNAMIC` dimension of a field's inputs, None for fixed-size inputs."""
    items, specs = dict(key.items), []
    for f, role in _roles(key.kind):
        if role == STATIC:
            continue
        for shape in _shapes(items[f.name]):
            sizes = {i: dims[f.name] for i, n in enumerate(shape) if n is DYNAMIC}
            specs.append(sizes or None)
    return specs


def rows(plan: KernelPlan, start: int, count: int) -> KernelPlan:
    """The plan restricted to (φ, domain) rows ``start … start + count − 1`` (a block
    package's piece)."""
    return replace(plan, lat_cols=tuple(tuple(c[start:start + count] for c in cols)
                                        for cols in plan.lat_cols))


# ---------------------------------------------------------------------- tensor layouts
def _flatten(value):
    """(layout, leaves): a number or 0-d tensor is a binary64 0-d input, a tensor itself
    (contiguous), a tuple element by element."""
    if isinstance(value, tuple):
        parts = [_flatten(v) for v in value]
        return ("tuple", tuple(p[0] for p in parts)), [t for p in parts for t in p[1]]
    if not isinstance(value, torch.Tensor) or value.dim() == 0:
        return ("scalar",), [torch.as_tensor(value, dtype=torch.float64).reshape(()).clone()]
    return ("tensor", tuple(value.shape), str(value.dtype)), [value.contiguous()]


def _unflatten(layout, leaves: Iterator[torch.Tensor]):
    if layout[0] == "tuple":
        return tuple(_unflatten(part, leaves) for part in layout[1])
    return next(leaves)


def _shapes(layout):
    """The input shapes of a layout, in input order."""
    if layout[0] == "tuple":
        return [s for part in layout[1] for s in _shapes(part)]
    if layout[0] == "scalar":
        return [()]
    if layout[0] == "tensor":
        return [layout[1]]
    return list(layout[-1])  # a nested value's: its own shapes last


# ------------------------------------------------------ nested values: their own rules
def _split_shape(p: ShapeParams, plan: KernelPlan):
    """SQUARE axes with N ≤ 1 are baked in (their factor is exactly 1, Q18); N, fudge and
    the reciprocal vectors are one binary64 [13] input."""
    unit = tuple(p.shape == "SQUARE" and not isinstance(n, torch.Tensor) and n <= 1
                 for n in (p.Na, p.Nb, p.Nc))
    vals = torch.tensor([float(x) for x in (p.Na, p.Nb, p.Nc, p.fudge,
                                            *p.a_star, *p.b_star, *p.c_star)],
                        dtype=torch.float64)
    return ("shape", p.shape, unit, [(13,)]), [vals]


def _rebuild_shape(layout, leaves) -> ShapeParams:
    _, shape, unit, _ = layout
    v = next(leaves)
    n = [1.0 if u else v[i] for i, u in enumerate(unit)]
    vec = lambda j: (v[j], v[j + 1], v[j + 2])  # noqa: E731
    return ShapeParams(shape, *n, v[3], vec(4), vec(7), vec(10))


def _split_sf(sf: SFLookup, plan: KernelPlan):
    """Whether a table is loaded is baked in; the grid's origin and ranges are an int64 [6]
    input, the padded grid (its length dynamic) another. Without a table F_cell is
    ``padded[0]`` everywhere (no index arithmetic in the package)."""
    if sf.has_table:
        ints, padded = (sf.h_min, sf.k_min, sf.l_min, sf.h_range, sf.k_range,
                        sf.l_range), sf.padded
    else:
        ints = (0, 0, 0, -1, -1, -1)
        padded = torch.full((NO_TABLE_GRID,), float(sf.default_F), dtype=plan.dtype)
    layout = ("sf", sf.has_table, str(padded.dtype), [(6,), (DYNAMIC,)])
    return layout, [torch.tensor(ints, dtype=torch.int64), padded.contiguous()]


def _rebuild_sf(layout, leaves) -> SFLookup:
    ints, padded = next(leaves), next(leaves)
    return SFLookup(padded, padded, *(ints[i] for i in range(6)), padded[0], layout[1])


_NESTED = {"shape": (_split_shape, _rebuild_shape), "sf": (_split_sf, _rebuild_sf)}
