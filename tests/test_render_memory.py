"""Chunk sizes from the memory that is free (physics/workload.py)."""
from __future__ import annotations

import torch

from torchbragg import config_from_argv
from torchbragg.physics import workload as r
from torchbragg.physics.setup import build_experiment, make_plan

MiB = 1024 * 1024
# M = 50 (φ × mosaic) rows: per pixel 320 B × 50 + 256 B of working memory in float64
ARGS = ("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -detpixels 64 -mosaic 0.5 "
        "-mosaic_domains 10 -phisteps 5 -osc 0.5").split()


def _plan():
    return make_plan(build_experiment(config_from_argv(ARGS)), "cpu", torch.float64)


def test_cpu_budget_is_a_share_of_available_memory_with_a_ceiling(monkeypatch):
    monkeypatch.setattr(r, "_available_host_memory", lambda: 400 * MiB)
    assert r.memory_budget(torch.device("cpu")) == 100 * MiB
    monkeypatch.setattr(r, "_available_host_memory", lambda: 64 * 1024 * MiB)
    assert r.memory_budget(torch.device("cpu")) == r.DEFAULT_BUDGET_BYTES
    monkeypatch.setattr(r, "_available_host_memory", lambda: None)
    assert r.memory_budget(torch.device("cpu")) == r.DEFAULT_BUDGET_BYTES


def test_host_memory_is_read():
    available = r._available_host_memory()
    assert available is None or available > 0


def test_cuda_budget_is_a_share_of_free_device_memory(monkeypatch):
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (8192 * MiB, 16384 * MiB))
    assert r.memory_budget(torch.device("cuda")) == 2048 * MiB


def test_chunks_shrink_with_the_memory_left(monkeypatch):
    plan = _plan()
    per_pixel = r.BYTES_PER_EVALUATION * 50 + 256
    assert r.chunk_pixels(plan, budget_bytes=40 * MiB) == 40 * MiB // per_pixel
    assert r.chunk_pixels(plan, budget_bytes=1) == 1024  # never below 1024 pixels
    monkeypatch.setattr(r, "_available_host_memory", lambda: 160 * MiB)
    assert r.chunk_pixels(plan) == 40 * MiB // per_pixel
    monkeypatch.setattr(r, "_available_host_memory", lambda: 64 * 1024 * MiB)
    assert r.chunk_pixels(plan) == r.BLOCK_ELEMENTS // 50  # cache-sized, not memory-sized
