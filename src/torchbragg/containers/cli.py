"""``python -m torchbragg.containers annotate|plan`` (used by ``scripts/parity_payload.sh``)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from torchbragg.containers.bundles import annotate_bundle
from torchbragg.containers.config import DOCKERFILES
from torchbragg.containers.engine import (
    engine_dir,
    engine_status,
    gpu_status,
    start_engine,
    stop_engine,
)
from torchbragg.containers.errors import ContainerError
from torchbragg.containers.plan import find_inputs, plan_parity


# --------------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m torchbragg.containers")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("annotate", help="record where the payload ran in a bundle")
    p.add_argument("bundle")
    p.add_argument("--runtime", required=True)
    p.add_argument("--note", default="")
    p.add_argument("--image", default=None)
    p = sub.add_parser("engine", help="start or stop a dockerd by hand (no engine running)")
    p.add_argument("action", choices=["start", "stop"])
    p = sub.add_parser("plan", help="print what parity-cpu/parity-cuda would do, as JSON")
    p.add_argument("kind", choices=sorted(DOCKERFILES))
    p.add_argument("posargs", nargs=argparse.REMAINDER)
    opts = parser.parse_args(argv)
    if opts.cmd == "annotate":
        annotate_bundle(Path(opts.bundle), opts.runtime, opts.note, opts.image)
        return 0
    if opts.cmd == "engine":
        return _engine(opts.action)
    repo = Path(__file__).resolve().parents[3]
    plan = plan_parity(opts.kind, opts.posargs, engine=engine_status(), gpu=gpu_status(),
                       inputs=find_inputs(repo))
    print(plan.to_json())
    return 0



def _engine(action: str) -> int:
    """``engine start``: print the ``export DOCKER_HOST=…`` line to eval; ``engine stop``."""
    root = engine_dir()
    if action == "stop":
        print(f"engine: {'stopped' if stop_engine(root) else 'none running'} in {root}",
              file=sys.stderr)
        return 0
    try:
        host = start_engine(root)
    except ContainerError as exc:
        print(f"engine: {exc}", file=sys.stderr)
        return 2
    print(f"export DOCKER_HOST={host}")
    print(f"engine: dockerd in {root}; stop it with `python -m torchbragg.containers engine stop`",
          file=sys.stderr)
    return 0
