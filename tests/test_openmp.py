"""The command-line tools choose how idle OpenMP workers wait before torch is loaded: a short
spin where the cores are free, sleeping (OMP_WAIT_POLICY=PASSIVE) where other work wants
them; a setting the user chose is kept."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from torchbragg import openmp

PROBE = ("import os, sys; from torchbragg.openmp import choose_wait_policy; "
         "first = choose_wait_policy({others}); import torch; "
         "print(first, choose_wait_policy(0), os.environ.get('OMP_WAIT_POLICY'), "
         "os.environ.get('GOMP_SPINCOUNT'))")


def _probe(others, **given):
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")}
    env.update(given)
    return subprocess.run([sys.executable, "-c", PROBE.format(others=others)], env=env,
                          capture_output=True, text=True, timeout=300,
                          check=True).stdout.split()


def test_busy_cores_make_idle_workers_sleep():
    assert _probe(others=64) == ["OMP_WAIT_POLICY=PASSIVE", "None", "PASSIVE", "None"]


def test_free_cores_get_a_short_spin():
    # one torch thread and nothing else runnable: a core is free for it on any machine
    assert _probe(others=0, OMP_NUM_THREADS="1") == [
        f"GOMP_SPINCOUNT={openmp.SHORT_SPIN}", "None", "None", str(openmp.SHORT_SPIN)]


def test_all_cores_for_torch_plus_other_work_is_busy(monkeypatch):
    monkeypatch.setattr(openmp, "_cores", lambda: 2)
    monkeypatch.setitem(sys.modules, "torch", None)  # (as if loaded: nothing is set)
    env = {}
    assert openmp.choose_wait_policy(0, env) is None and env == {}
    monkeypatch.delitem(sys.modules, "torch")
    assert openmp.choose_wait_policy(1, env) == "OMP_WAIT_POLICY=PASSIVE"
    assert env == {"OMP_WAIT_POLICY": "PASSIVE"}
    env = {}
    assert openmp.choose_wait_policy(0, env) == f"GOMP_SPINCOUNT={openmp.SHORT_SPIN}"
    assert env == {"GOMP_SPINCOUNT": str(openmp.SHORT_SPIN)}
    env = {"OMP_NUM_THREADS": "1"}  # one torch thread beside one other task: free
    assert openmp.choose_wait_policy(1, env) == f"GOMP_SPINCOUNT={openmp.SHORT_SPIN}"


@pytest.mark.parametrize("given", [{"OMP_WAIT_POLICY": "active"}, {"GOMP_SPINCOUNT": "7"}])
def test_a_setting_the_user_chose_is_kept(given):
    out = _probe(others=0, **given)
    assert out[:2] == ["None", "None"]
    assert out[2:] == [given.get("OMP_WAIT_POLICY", "None"), given.get("GOMP_SPINCOUNT", "None")]


def test_other_runnable_reads_the_smaller_of_now_and_the_load_average(tmp_path, monkeypatch):
    real_open = open

    def fake(text):
        monkeypatch.setattr("builtins.open", lambda path, *a, **k: (
            real_open(tmp_path / "loadavg", *a, **k) if path == "/proc/loadavg"
            else real_open(path, *a, **k)))
        (tmp_path / "loadavg").write_text(text)
        return openmp.other_runnable()

    assert fake("0.30 0.20 0.10 2/300 999\n") == 0   # a passing process, no load
    assert fake("3.80 3.00 2.00 1/300 999\n") == 0   # load that has just ended
    assert fake("3.80 3.00 2.00 5/300 999\n") == 4   # busy now and for the last minute
    assert fake("garbage\n") is None


def test_the_command_sets_it_before_loading_torch(monkeypatch):
    from torchbragg.cli import main as cli_main

    calls = []
    monkeypatch.setattr("torchbragg.openmp.choose_wait_policy", lambda: calls.append("omp"))
    monkeypatch.setattr(cli_main, "run", lambda argv: calls.append("run") or 0)
    assert cli_main.main(["-detpixels", "4"]) == 0
    assert calls == ["omp", "run"]
