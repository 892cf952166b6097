"""The command-line tools make idle OpenMP workers sleep (OMP_WAIT_POLICY=PASSIVE) before torch
is loaded, and keep a policy the user chose."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = ("import os, sys; from torchbragg.openmp import sleep_when_idle; "
         "first = sleep_when_idle(); import torch; "
         "print(first, sleep_when_idle(), os.environ['OMP_WAIT_POLICY'])")


@pytest.mark.parametrize("given, want", [(None, "PASSIVE"), ("active", "active")])
def test_policy_is_set_before_torch_unless_given(given, want):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given is not None:
        env["OMP_WAIT_POLICY"] = given
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                         text=True, timeout=300, check=True).stdout.split()
    assert out == ["True", "False", want]


def test_the_command_sets_it_before_loading_torch(monkeypatch):
    from torchbragg.cli import main as cli_main

    calls = []
    monkeypatch.setattr("torchbragg.openmp.sleep_when_idle", lambda: calls.append("omp"))
    monkeypatch.setattr(cli_main, "run", lambda argv: calls.append("run") or 0)
    assert cli_main.main(["-detpixels", "4"]) == 0
    assert calls == ["omp", "run"]
