"""Process-level OpenMP setting for the command-line tools: how idle worker threads wait.

torch's CPU kernels run on OpenMP worker threads (GNU libgomp). A worker that has finished its
share of a parallel region spins for a while before it sleeps: libgomp's default is ≈ 300 000
spins (≈ 3 ms). Two cases pull opposite ways (docs/performance.md, "Idle OpenMP workers"):

* On cores shared with other work a spinning worker holds the core that the thread it waits
  for needs, and every parallel region waits for the scheduler: on the 2-core benchmark VM
  under load W4 ran ≈ 8× and W5 ≈ 3× slower by default than with ``OMP_WAIT_POLICY=PASSIVE``
  (no spinning).
* On free cores, sleeping at once costs a futex wake-up (tens of µs) for each of the
  thousands of small parallel regions of a render: W5 took ≈ 3.7 s passive against ≈ 2.6 s
  with a short spin of :data:`SHORT_SPIN` (≈ 30 µs).

So before torch is loaded :func:`choose_wait_policy` looks at the machine: where other
runnable work would leave this process fewer free cores than torch's threads, idle workers
sleep (``OMP_WAIT_POLICY=PASSIVE``); else they spin briefly (``GOMP_SPINCOUNT``). A policy
or spin count the user set is kept. No result changes: how the work is split over the threads
does not depend on how idle threads wait.
"""
from __future__ import annotations

import os
import sys
from typing import Mapping, MutableMapping, Optional

#: libgomp spins before a worker sleeps where the cores are free (≈ 100 000 spins per ms)
SHORT_SPIN = 3000


def choose_wait_policy(others: Optional[int] = None,
                       environ: Optional[MutableMapping[str, str]] = None) -> Optional[str]:
    """Set how idle OpenMP workers wait, before torch (hence libgomp) is loaded: returns the
    variable set in ``environ`` (default ``os.environ``): ``"OMP_WAIT_POLICY=PASSIVE"`` or
    ``"GOMP_SPINCOUNT=3000"``; None where the user set one or torch is already loaded.
    ``others``: how many other tasks want a core (default :func:`other_runnable`)."""
    env = os.environ if environ is None else environ
    if "torch" in sys.modules or "OMP_WAIT_POLICY" in env or "GOMP_SPINCOUNT" in env:
        return None
    if others is None:
        others = other_runnable()
    if others is not None and others + _torch_threads(env) <= _cores():
        env["GOMP_SPINCOUNT"] = str(SHORT_SPIN)
        return f"GOMP_SPINCOUNT={SHORT_SPIN}"
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    return "OMP_WAIT_POLICY=PASSIVE"


def other_runnable() -> Optional[int]:
    """Tasks other than this one that want a core: the smaller of the runnable count now and
    the one-minute load average, rounded (so a passing process does not count, nor does load
    that has just ended), from ``/proc/loadavg``; None where it cannot be read."""
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            fields = f.read().split()
        running_now = int(fields[3].split("/")[0]) - 1  # (this process is one of them)
        return max(0, round(min(float(running_now), float(fields[0]))))
    except (OSError, ValueError, IndexError):
        return None


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _torch_threads(env: Mapping[str, str]) -> int:
    """The threads torch will use: ``OMP_NUM_THREADS`` where set, else one per core."""
    try:
        return max(1, int(env["OMP_NUM_THREADS"].split(",")[0]))
    except (KeyError, ValueError):
        return _cores()
