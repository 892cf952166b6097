"""Run the ``torchbragg`` command in-process and record the rendering time.

    python -m torchbragg.bench.worker TIMING.json ARGS...

Writes ``{"compute_s": …, "device": …}``: the time spent in the renderer (synchronised on
CUDA), excluding start-up, parsing and file writing.
"""
from __future__ import annotations

import json
import sys
import time


def main() -> int:
    out, argv = sys.argv[1], sys.argv[2:]
    from torchbragg.cli.main import start_helper_build
    from torchbragg.openmp import choose_wait_policy

    choose_wait_policy()  # as the torchbragg command, before torch is loaded
    start_helper_build(argv)  # (likewise: the native block's first build beside the import)
    import torch

    from torchbragg.cli import main as cli_main
    from torchbragg.physics import render as render_mod

    if torch.cuda.is_available() and "cpu" not in argv:
        # warm-up excluded from the device time: context creation and first kernel loads
        torch.sin(torch.ones(1024, device="cuda")).sum().item()
    timing = {"compute_s": 0.0}
    original = render_mod.render

    def timed(plan, *args, **kwargs):
        if plan.device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        result = original(plan, *args, **kwargs)
        if plan.device.type == "cuda":
            torch.cuda.synchronize()
        timing["compute_s"] += time.perf_counter() - t0
        timing["device"] = str(plan.device)
        return result

    render_mod.render = timed
    status = cli_main.main(argv)
    with open(out, "w") as fh:
        json.dump(timing, fh)
    return status


if __name__ == "__main__":
    from torchbragg.cli.main import exit_now

    exit_now(main())  # as the torchbragg command does
