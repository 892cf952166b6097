"""Process-level OpenMP setting for the command-line tools: idle worker threads sleep.

torch's CPU kernels run on OpenMP worker threads (GNU libgomp). With ``OMP_WAIT_POLICY`` unset,
a worker that has finished its share spins for a while before it sleeps. On a machine whose
cores are shared with other processes a spinning worker holds the core that the thread it
waits for needs, and every parallel region then waits for the scheduler: on the 2-core
benchmark VM under load, W4 ran ≈ 8x and W5 ≈ 3x slower than with ``PASSIVE``
(docs/performance.md). libgomp reads the variable when it is loaded (with torch), so this runs
before torch is imported; a value the user set is kept. No result changes: how the work is
split over the threads does not depend on how idle threads wait.
"""
from __future__ import annotations

import os
import sys


def sleep_when_idle() -> bool:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` unless the variable is set; True when it takes effect
    (False when torch, hence libgomp, is already loaded)."""
    if "torch" in sys.modules:
        return False
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return True
