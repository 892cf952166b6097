"""How a ``parity-cpu``/``parity-cuda`` session runs: the payload's arguments (the default
preset), docker or a local run on the host, skip or error.  Pure apart from reading the
environment and the inputs folder."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from torchbragg.containers.config import (
    DEFAULT_PRESET,
    DOCKERFILES,
    INPUTS_ENV,
    REQUIRE_ENV,
    SUPERVISOR_INPUTS,
    SUPERVISOR_PRESET,
)


# --------------------------------------------------------------------------- environment
def require_docker(env: dict | None = None) -> bool:
    """``REQUIRE_DOCKER`` set to 1/true/yes: a missing engine or GPU is an error, not a skip."""
    value = (os.environ if env is None else env).get(REQUIRE_ENV, "")
    return value.strip().lower() in ("1", "true", "yes", "on")


def find_inputs(repo: Path, env: dict | None = None) -> tuple[Path | None, str]:
    """The supervisor inputs folder and a sentence saying where it was looked for.

    ``$TORCHBRAGG_INPUTS``, else ``../shared/golden/inputs`` beside the checkout (the same
    rule as ``torchbragg.parity.presets``).  Returns (None, reason) when A.mat or scaled.hkl
    is missing.
    """
    env = os.environ if env is None else env
    given = env.get(INPUTS_ENV)
    path = Path(given) if given else Path(repo).resolve().parent / "shared" / "golden" / "inputs"
    missing = [n for n in SUPERVISOR_INPUTS if not (path / n).is_file()]
    where = f"${INPUTS_ENV}={given}" if given else f"{path} (set ${INPUTS_ENV} to change)"
    if missing:
        return None, f"{', '.join(missing)} not found in {where}"
    return path.resolve(), f"inputs from {where}"


# --------------------------------------------------------------------------- the plan
@dataclass
class Plan:
    """What a ``parity-cpu``/``parity-cuda`` session does.

    ``mode``: ``docker`` (build the image, run the payload in it), ``local`` (run the payload
    on the host), ``skip`` (nothing to do, say ``reason``) or ``error`` (fail with ``reason``).
    """

    kind: str
    mode: str
    args: list[str]
    reason: str = ""
    inputs: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def split_posargs(posargs) -> tuple[bool, list[str]]:
    """Remove the session's own ``--local`` flag (before any ``--``); return (local, rest)."""
    args = list(posargs)
    head, sep, tail = _split_dashdash(args)
    local = "--local" in head
    head = [a for a in head if a != "--local"]
    return local, head + sep + tail


def _split_dashdash(args: list[str]) -> tuple[list[str], list[str], list[str]]:
    if "--" in args:
        i = args.index("--")
        return args[:i], ["--"], args[i + 1:]
    return args, [], []


def _option_value(args: list[str], name: str) -> str | None:
    head, _, _ = _split_dashdash(args)
    for i, a in enumerate(head):
        if a == name and i + 1 < len(head):
            return head[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def payload_args(rest: list[str], inputs: Path | None, inputs_reason: str,
                 device: str | None = None) -> tuple[list[str], list[str], str | None]:
    """(harness arguments, notes, error) for the payload.

    No ``--preset`` and no nanoBragg command after ``--``: the default preset
    ``supervisor-like`` (the users' supervisor geometry on the project's own generated crystal;
    it needs no input files, so nothing falls back).  ``--preset supervisor`` (the users' own
    A.mat and scaled.hkl) without those inputs is an error naming where they were looked for.
    ``device`` adds ``--device`` unless given.
    """
    args = list(rest)
    notes: list[str] = []
    head, sep, tail = _split_dashdash(args)
    preset = _option_value(args, "--preset")
    if preset is None and not tail:
        preset = DEFAULT_PRESET
        head = ["--preset", preset] + head
    elif preset == SUPERVISOR_PRESET and inputs is None:
        return [], notes, (f"--preset {SUPERVISOR_PRESET} needs A.mat and scaled.hkl: "
                           f"{inputs_reason}; point {INPUTS_ENV} at their folder, or run the "
                           f"default preset {DEFAULT_PRESET!r} (no inputs needed)")
    if device and _option_value(head, "--device") is None:
        head = head + ["--device", device]
    return head + sep + tail, notes, None


def plan_parity(kind: str, posargs, *, engine: tuple[bool, str], gpu: tuple[bool, str],
                inputs: tuple[Path | None, str], env: dict | None = None) -> Plan:
    """Decide how ``parity-<kind>`` runs; pure (the probes' answers are arguments)."""
    if kind not in DOCKERFILES:
        raise ValueError(f"unknown kind {kind!r}")
    require = require_docker(env)
    local, rest = split_posargs(posargs)
    device = "cuda" if kind == "cuda" else None
    args, notes, error = payload_args(rest, inputs[0], inputs[1], device)
    inputs_path = str(inputs[0]) if inputs[0] is not None else None
    if error:
        return Plan(kind, "error", args, error, inputs_path, notes)
    if kind == "cuda" and not gpu[0]:
        mode = "error" if require else "skip"
        return Plan(kind, mode, args, f"parity-cuda: {gpu[1]}", inputs_path, notes)
    if local:
        return Plan(kind, "local", args, "--local: the payload runs on the host, no container",
                    inputs_path, notes)
    if not engine[0]:
        if require:
            return Plan(kind, "error", args,
                        f"{REQUIRE_ENV}=1 and no Docker engine answered: {engine[1]}",
                        inputs_path, notes)
        return Plan(kind, "local", args,
                    f"no Docker engine answered ({engine[1]}): running the payload on the host "
                    f"instead (container: none); set {REQUIRE_ENV}=1 to make this an error",
                    inputs_path, notes)
    return Plan(kind, "docker", args, engine[1], inputs_path, notes)
