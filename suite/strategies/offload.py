"""Offload: optimizer states (ZeRO 1-3) and parameters (ZeRO-3) to host memory or NVMe.

NVMe offload (ZeRO-Infinity) swaps through DeepSpeed's async I/O op (libaio) into
`<nvme_path>/<run_id>/` -- a folder of its own per run, so runs sharing a disk
never meet; each rank reports the bytes of its swap files (`nvme_bytes`) and the
run's folder is removed when the run ends (a failed run's, when its next attempt
starts). On the CPU accelerator "offload to cpu" moves bytes between categories
of the same memory; NVMe moves them to disk.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from suite.models import model_spec
from suite.resolved import Resolved
from suite.strategy_spec import Axis, RankContext, Rule, Strategy, Values

DEVICES = ("none", "cpu", "nvme")
# DeepSpeed's aio settings (docs: config-json "aio"): 1 MiB blocks, 8 requests in flight.
AIO = {"block_size": 1048576, "queue_depth": 8, "thread_count": 1, "single_submit": False,
       "overlap_events": True}
_PATH = re.compile(r"/[A-Za-z0-9._/-]*")


def _check_path(value: object) -> str | None:
    if value == "":
        return None
    if not _PATH.fullmatch(str(value)) or ".." in Path(str(value)).parts:
        return (f"{value!r} is not an absolute folder path of letters, digits and '._-/' "
                f"(no '..')")
    return None


def _nvme(v: Values) -> bool:
    return "nvme" in (v["offload_optimizer"], v["offload_param"])


def configure(values: dict, config: dict) -> dict:
    zero: dict = {}
    folder = f"{values['nvme_path'].rstrip('/')}/{{run_id}}"  # ds_config fills in the run_id
    pin = values["device"] == "cuda"  # page-locked memory speeds up GPU<->host copies only
    spec = model_spec(values["model"])
    if (device := values["offload_optimizer"]) != "none":
        zero["offload_optimizer"] = {"device": device, "pin_memory": pin}
        if device == "nvme":
            zero["offload_optimizer"]["nvme_path"] = folder
    if (device := values["offload_param"]) != "none":
        zero["offload_param"] = {"device": device, "pin_memory": pin}
        if device == "nvme":
            # Each parameter partition in use takes a swap buffer of the largest one's size (the
            # embedding's); none stays in host memory. Prefetching ahead would hold more
            # buffers than a submodule needs: off unless the async strategy's axis sets it.
            largest = -(-max(r * c for r, c in spec.matrices()) // values["world_size"])
            zero["offload_param"].update(nvme_path=folder, buffer_count=8, buffer_size=largest,
                                         max_in_cpu=0)
            # Release a partition as soon as its submodule is done (DeepSpeed otherwise keeps
            # those it will reuse soon, each holding a buffer).
            zero.update(stage3_prefetch_bucket_size=0, stage3_max_reuse_distance=0)
    fragment: dict = {"zero_optimization": zero} if zero else {}
    if _nvme(values):
        # ZeRO-3 swaps optimizer states one sub-group at a time through buffers of a
        # sub-group's size: about 8 sub-groups per rank keep them small next to the states.
        per_rank = spec.n_params // values["world_size"]
        zero["sub_group_size"] = min(10**9, max(2**20, per_rank // 8))
        fragment["aio"] = dict(AIO)
    return fragment


def observe(run: Resolved, config: dict, ctx: RankContext) -> dict:
    """Bytes of this rank's swap files (DeepSpeed names their folders rank<N>)."""
    if not _nvme(run):
        return {}
    root = Path(_folder(config))
    total = sum(f.stat().st_size for d in root.rglob(f"rank{ctx.rank}") if d.is_dir()
                for f in d.rglob("*") if f.is_file())
    return {"nvme_bytes": total}


def prepare(run: Resolved, ctx: RankContext) -> None:
    """Remove what a failed earlier attempt of this run left (its folder is the run's own)."""
    if _nvme(run) and ctx.local_rank == 0:
        shutil.rmtree(f"{run['nvme_path'].rstrip('/')}/{ctx.run_id}", ignore_errors=True)


def cleanup(run: Resolved, config: dict, ctx: RankContext) -> None:
    """Remove the run's swap folder (called once per node, after every rank is done)."""
    if _nvme(run):
        shutil.rmtree(_folder(config), ignore_errors=True)


def _folder(config: dict) -> str:
    zero = config["zero_optimization"]
    return next(zero[k]["nvme_path"] for k in ("offload_optimizer", "offload_param")
                if "nvme_path" in zero.get(k, {}))


def _rules() -> tuple[Rule, ...]:
    return (
        Rule(name="offload-needs-zero",
             reason="offload_optimizer needs ZeRO stage 1, 2 or 3 (DeepSpeed has no stage-0 "
                    "offload)",
             excludes=lambda v: v["offload_optimizer"] != "none" and v["zero_stage"] == 0),
        Rule(name="offload-param-needs-zero-3",
             reason="offload_param needs ZeRO stage 3 (only stage 3 partitions parameters)",
             excludes=lambda v: v["offload_param"] != "none" and v["zero_stage"] != 3),
        Rule(name="nvme-needs-zero-3",
             reason="DeepSpeed swaps to NVMe only in ZeRO-3 (ZeRO-Infinity); stages 1-2 "
                    "offload to cpu",
             excludes=lambda v: _nvme(v) and v["zero_stage"] != 3),
        Rule(name="nvme-needs-path",
             reason="NVMe offload needs nvme_path: the folder on the local disk to swap into",
             excludes=lambda v: _nvme(v) and not v["nvme_path"]),
        Rule(name="nvme-path-needs-nvme",
             reason="nvme_path without NVMe offload would be the same run under another run_id",
             excludes=lambda v: bool(v["nvme_path"]) and not _nvme(v)),
    )


STRATEGY = Strategy(
    name="offload",
    description="ZeRO-Offload/Infinity: optimizer states (and step) to cpu or nvme; "
                "parameters to cpu or nvme (stage 3)",
    axes=(
        Axis(name="offload_optimizer", type=str, default="none", choices=DEVICES,
             help="ZeRO-Offload: keep optimizer states (and the step) on the host or NVMe"),
        Axis(name="offload_param", type=str, default="none", choices=DEVICES,
             help="ZeRO-3 parameter offload: keep parameter partitions on the host or NVMe"),
        Axis(name="nvme_path", type=str, default="", check=_check_path,
             values="absolute folder path, or \"\" (none)",
             names_strategy=False,
             help="absolute folder on a local disk for NVMe offload (each run swaps into "
                  "<nvme_path>/<run_id>)"),
    ),
    rules=_rules(),
    kinds=("train", "distill"),
    configure=configure,
    prepare=prepare,
    observe=observe,
    cleanup=cleanup,
)
