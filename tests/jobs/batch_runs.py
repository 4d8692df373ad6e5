"""Many scenarios in one MPI launch (DeepSpeed starts once: ~10 s saved per scenario).

    mpiexec -n N python tests/jobs/batch_runs.py SPEC.json

SPEC.json is a list of entries. An entry with "values" (axis values) runs the worker's own
run of its kind (jobs.worker.rank_runs: training or inference) and rank 0 prints its ok record
(its fingerprint only the optimizer's classes, as the worker records them); an entry with
"sizes" as well builds a module whose parameters have those element counts instead of the
catalogue's model, runs two steps through DeepSpeed with the scenario's config and prints
each rank's ledger. Lines start with BATCH and hold JSON.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from jobs import dist  # noqa: E402
from jobs.ranks import discover  # noqa: E402
from suite.scenario import RunSettings, Scenario  # noqa: E402


def toy_ledger(scenario: Scenario, sizes: list[int]) -> dict:
    import deepspeed
    import torch

    from jobs.held import held_tensors
    from jobs.ledger import Ledger, count
    from suite.ds_config import deepspeed_config

    class Toy(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ps = torch.nn.ParameterList(torch.nn.Parameter(torch.randn(n)) for n in sizes)

        def forward(self, x, y):
            return sum((p * p).sum() for p in self.ps) * x.float().mean()

    config = deepspeed_config(scenario)
    torch.manual_seed(0)
    if scenario["zero_stage"] == 3:
        with deepspeed.zero.Init(config_dict_or_path=config):
            model = Toy()
    else:
        model = Toy()
    engine, *_ = deepspeed.initialize(model=model, model_parameters=model.parameters(),
                                      config=config)
    x = torch.ones(int(scenario["micro_batch"]), 4)
    ledger = Ledger()
    for _ in range(2):
        for _ in range(int(scenario["grad_accum"])):
            engine.backward(engine(x, x))
            ledger = ledger.max(count(held_tensors(engine.module, engine.optimizer)))
            engine.step()
        ledger = ledger.max(count(held_tensors(engine.module, engine.optimizer)))
    return vars(ledger)


def main() -> None:
    comm = dist.mpi_comm()
    ranks = discover(os.environ, comm, expand_nodelist=None)
    addr, port = dist.rendezvous(ranks, comm)
    dist.init(ranks, device="cpu", addr=addr, port=port, timeout_s=600)
    from jobs.record import now, ok_record
    from jobs.worker import rank_runs, start_rank

    run_kinds = rank_runs()

    for entry in json.loads(Path(sys.argv[1]).read_text()):
        settings = RunSettings(**entry.get("settings", {"warmup_steps": 1, "timed_steps": 1}))
        scenario = Scenario.from_values(sweep="batch", settings=settings,
                                        values={"world_size": ranks.world_size,
                                                **entry["values"]})
        if "sizes" in entry:
            ledgers = comm.gather(toy_ledger(scenario, entry["sizes"]), root=0)
            out = {"values": scenario.values, "sizes": entry["sizes"], "ledgers": ledgers}
        else:
            run = scenario.resolve()
            ctx = start_rank(run, ranks)
            # Its prepare removes an NVMe run's folder on local rank 0: no rank may create its
            # swap files there before (ranks drift apart between the scenarios of a batch).
            comm.Barrier()
            outcomes = comm.gather(run_kinds[run.workload.kind](run, ranks, ctx), root=0)
            out = ranks.rank == 0 and ok_record(
                scenario, outcomes, attempt=1, started=now(),
                fingerprint={"optimizer_impl": outcomes[0].optimizer_impl}).to_json()
        if ranks.rank == 0:
            print("BATCH " + json.dumps(out), flush=True)
        gc.collect()
    dist.teardown()


if __name__ == "__main__":
    main()
