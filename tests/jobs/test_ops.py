"""DeepSpeed's compiled ops belong to the installation: a run uses the ones `make install`
built into it, and one it would have to compile ends `failed`, naming the op, never `oom`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from jobs import ops
from results.load import load_records
from slurm.local import run_sweep
from suite.sweep import load_sweep

REPO = Path(__file__).resolve().parents[2]
# CPU Adam steps the offloaded states; the cap is the one a compiler would have run under.
OFFLOAD = """
[sweep]
name = "ops"
warmup_steps = 1
timed_steps = 1
host_mem_cap = "3GiB"
timeout_s = 600
[axes]
model = "tiny"
world_size = 1
zero_stage = 1
offload_optimizer = "cpu"
seq_len = 32
"""


def test_a_scenario_needs_the_ops_its_run_loads():
    cpu = {"device": "cpu", "optimizer": "adamw", "offload_optimizer": "none",
           "offload_param": "none"}
    assert ops.needed(cpu) == (ops.SHM_COMM,)  # torch's AdamW without offload
    assert ops.needed({**cpu, "offload_optimizer": "cpu"}) == (ops.SHM_COMM, ops.CPU_ADAM)
    assert ops.needed({**cpu, "optimizer": "sgd", "offload_optimizer": "cpu"}) == (ops.SHM_COMM,)
    assert ops.needed({**cpu, "offload_param": "nvme"}) == (ops.SHM_COMM, *ops.NVME)
    assert ops.needed({**cpu, "device": "cuda"}) == (ops.FUSED_ADAM,)


def test_the_reason_names_the_op_and_the_fix():
    reason = f"{type(e := ops.OpNotBuilt(['cpu_adam'])).__name__}: {e}"
    assert reason.startswith("OpNotBuilt: DeepSpeed op cpu_adam is not built for this "
                             "installation") and reason.endswith("run `make install`")
    assert ops.not_built(reason) and not ops.not_built("RuntimeError: cpu_adam") \
        and not ops.not_built(None)
    assert ops.extensions_dir("/opt/venv") == Path("/opt/venv/torch_extensions")


def second_installation(root: Path) -> Path:
    """A virtual environment with the same torch, mpi4py and DeepSpeed as this one, but its
    DeepSpeed at another path: its ops compile with other include paths (the issue's case of
    two installations), and its own extensions folder holds this installation's builds."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    site = Path(sysconfig.get_paths(vars={"base": str(root), "platbase": str(root)})["purelib"])
    here = Path(sysconfig.get_paths()["purelib"])
    (site / "deepspeed").symlink_to(here / "deepspeed")  # found first: another path
    (site / "this.pth").write_text(f"import site; site.addsitedir({str(here)!r})\n")
    for lib in [*(Path(sys.prefix) / "lib").glob("libmpi*"), Path(sys.prefix) / "lib" / "mpich"]:
        (root / "lib" / lib.name).symlink_to(lib)  # mpi4py looks in sys.prefix/lib
    for op in ("deepspeed_shm_comm", "cpu_adam"):
        shutil.copytree(ops.extensions_dir() / op, ops.extensions_dir(str(root)) / op,
                        symlinks=True)
    return root / "bin" / "python"


def build_stamps(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.rglob("*")
            if p.suffix in (".so", ".o") or p.name == ".ninja_log"}


@pytest.mark.slow
def test_this_installations_ops_pass_the_runs_check():
    done = subprocess.run([sys.executable, "-m", "jobs.ops", "--device", "cpu", ops.SHM_COMM,
                           ops.CPU_ADAM], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.splitlines()[-1]) == []


@pytest.mark.slow
def test_an_offload_run_under_a_cap_uses_its_installations_op_or_fails_not_oom(tmp_path):
    (tmp_path / "ops.toml").write_text(OFFLOAD)
    before = build_stamps(ops.extensions_dir())
    python = second_installation(tmp_path / "other")
    other_before = build_stamps(ops.extensions_dir(str(tmp_path / "other")))
    env = {**os.environ, "PYTHONPATH": str(REPO), "MEMSWEEP_MPIEXEC": shutil.which(
        "mpiexec", path=str(Path(sys.executable).parent)) or "mpiexec",
        # the user's setting shared by both installations: each keeps to its own folder anyway
        ops.ENV: str(ops.extensions_dir())}
    done = subprocess.run([str(python), "-m", "memsweep", "run", str(tmp_path / "ops.toml"),
                           "--out", str(tmp_path / "other-out")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 3, done.stdout[-3000:] + done.stderr[-3000:]
    [record], bad = load_records(tmp_path / "other-out")
    assert not bad and record.status == "failed", record.reason
    assert record.reason.startswith("OpNotBuilt: DeepSpeed ops deepspeed_shm_comm, cpu_adam "
                                    "are not built for this installation"), record.reason
    assert "make install" in done.stdout
    # Nothing compiled, in either installation's folder.
    assert build_stamps(ops.extensions_dir(str(tmp_path / "other"))) == other_before
    assert build_stamps(ops.extensions_dir()) == before

    # This installation: its prebuilt op, under the same cap.
    assert run_sweep(load_sweep(tmp_path / "ops.toml"), out=tmp_path / "out") == 0
    [record], bad = load_records(tmp_path / "out")
    assert not bad and record.status == "ok", record.reason
    assert build_stamps(ops.extensions_dir()) == before


@pytest.mark.slurm
def test_under_slurms_mem_a_second_installation_fails_not_built_and_this_one_runs(tmp_path):
    # The case: `memsweep submit` with the cpu-local profile (--mem=4G) from a second
    # installation. It exits 3 up front, submitting nothing; with --no-ops-check (compute
    # nodes unlike the submitting host) its task never compiles under the job's cgroup:
    # failed, not oom.
    if shutil.which("sinfo") is None or subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=60,
            check=False).returncode != 0:
        pytest.fail("the Slurm cluster is not up: run `make cluster-up`", pytrace=False)
    (tmp_path / "ops.toml").write_text(OFFLOAD)
    other = second_installation(tmp_path / "other")
    profile = str(REPO / "slurm" / "profiles" / "cpu-local.toml")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    refused = subprocess.run([str(other), "-m", "memsweep", "submit", str(tmp_path / "ops.toml"),
                              "--profile", profile, "--out", str(tmp_path / "refused")],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "DeepSpeed ops deepspeed_shm_comm, cpu_adam are not built for this installation " \
        f"({ops.extensions_dir(str(tmp_path / 'other'))}): run `make install`; nothing was " \
        "submitted" in refused.stderr, refused.stderr
    assert not (tmp_path / "refused").exists()
    for python, name in ((other, "other"), (Path(sys.executable), "this")):
        out = tmp_path / f"{name}-out"
        sub = subprocess.run([str(python), "-m", "memsweep", "submit", str(tmp_path / "ops.toml"),
                              "--profile", profile, "--out", str(out),
                              *(["--no-ops-check"] if name == "other" else [])],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        assert sub.returncode == 0, sub.stdout + sub.stderr
        assert "#SBATCH --mem=4G" in (out / "slurm-array.sh").read_text()
        subprocess.run([str(python), "-m", "memsweep", "status", str(out), "--watch",
                        "--interval", "3"], cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=900)
        [record], bad = load_records(out)
        assert not bad, bad
        if name == "other":
            assert record.status == "failed" and ops.not_built(record.reason), record.reason
        else:
            assert record.status == "ok", record.reason
