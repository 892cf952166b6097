"""How ``nox -s campaign`` runs: the preset's spec, on the host or in the CPU image.

``nox -s campaign -- [smoke|coverage|random|PATH.yaml] [--container] [campaign options]``.
On the host it is ``torchbragg-parity campaign campaigns/PRESET.yaml --out-root
reports/campaign …`` (through the payload script, as parity-cpu's local mode); with
``--container`` the payload runs in the CPU image with ``campaigns/`` mounted read-only at
``/campaigns`` and the bundle written to ``/out``. Pure: nothing here runs a program.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torchbragg.containers.errors import ContainerError

PRESETS = ("smoke", "coverage", "random")
CAMPAIGN_REPORTS = "reports/campaign"
SPEC_MOUNT = "/campaigns"


@dataclass
class CampaignPlan:
    spec: str            # path of the spec on the host
    container: bool
    args: list[str]      # campaign options after the spec


def campaign_plan(repo: Path, posargs: list[str]) -> CampaignPlan:
    """The preset (default smoke) or spec file, the container switch, the other options."""
    args = list(posargs)
    container = "--container" in args
    args = [a for a in args if a != "--container"]
    first = args[0] if args and not args[0].startswith("-") else "smoke"
    if args and not args[0].startswith("-"):
        args = args[1:]
    if first in PRESETS:
        spec = Path(repo) / "campaigns" / f"{first}.yaml"
    elif first.endswith((".yaml", ".yml")):
        spec = Path(first).resolve()
    else:
        raise ContainerError(f"campaign: unknown preset {first!r} (one of {', '.join(PRESETS)}, "
                             "or a spec file)")
    if not spec.is_file():
        raise ContainerError(f"campaign: no spec {spec}")
    if container and Path(repo, "campaigns").resolve() not in spec.resolve().parents:
        raise ContainerError("campaign --container: the spec must be under campaigns/ "
                             "(the folder mounted in the image)")
    return CampaignPlan(str(spec), container, args)


def payload_args(repo: Path, plan: CampaignPlan) -> list[str]:
    """The payload script's arguments: ``campaign SPEC OPTIONS`` (spec path as seen there)."""
    spec = plan.spec
    if plan.container:
        spec = f"{SPEC_MOUNT}/{Path(spec).resolve().relative_to(Path(repo, 'campaigns').resolve())}"
    return ["campaign", spec, *plan.args]


def container_mounts(repo: Path) -> list[str]:
    """``docker run`` options adding the read-only spec folder."""
    return ["-v", f"{Path(repo, 'campaigns').resolve()}:{SPEC_MOUNT}:ro"]
