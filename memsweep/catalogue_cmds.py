"""`memsweep` plan, strategies, models: what a sweep expands to, what the catalogue holds."""

from __future__ import annotations

import argparse

from suite.explain import catalogue_text, explain
from suite.models import MODELS, human_count
from suite.plan_table import plan_json, plan_text
from suite.sweep import load_sweep
from suite.units import parse_bytes


def _cmd_plan(args) -> int:
    sweep = load_sweep(args.sweep)
    if args.explain:
        print(explain(sweep, args.explain, as_json=args.format == "json"))
        return 0
    capacity = parse_bytes(args.capacity, key="--capacity") if args.capacity else None
    render = plan_json if args.format == "json" else plan_text
    print(render(sweep, capacity=capacity, predict=args.predict))
    return 0


def _cmd_strategies(args) -> int:
    print(catalogue_text())
    return 0


def _cmd_models(args) -> int:
    print(f"{'name':<14} {'family':<6} {'scale':<8} {'layers':>6} {'width':>6} {'heads':>5} "
          f"{'kv':>4} {'ffn':>6} {'vocab':>7} {'max_seq':>7} {'params':>16}")
    for m in MODELS.values():
        print(f"{m.name:<14} {m.family:<6} {m.scale:<8} {m.n_layer:>6} {m.d_model:>6} "
              f"{m.n_head:>5} {m.kv_heads:>4} {m.ffn:>6} {m.vocab_size:>7} {m.max_seq_len:>7} "
              f"{m.n_params:>16,} ({human_count(m.n_params)})")
    return 0


def register(sub: argparse._SubParsersAction, epilog: str) -> None:
    s = sub.add_parser("plan", help="print the scenarios a sweep file expands to",
                       description="Expand SWEEP into its scenarios and print them, with every "
                                   "excluded combination and the rule that excluded it. "
                                   "Runs nothing.", epilog=epilog)
    s.add_argument("sweep", help="sweep file (TOML), e.g. suite/sweeps/smoke.toml")
    s.add_argument("--format", choices=("text", "json"), default="text")
    s.add_argument("--predict", action="store_true",
                   help="add the analytical model's predicted bytes per rank (model states at "
                        "rest, the step's peak and its phase, peak + runtime baseline) and "
                        "whether each scenario fits its capacity")
    s.add_argument("--capacity", metavar="SIZE",
                   help="memory per rank for --predict, e.g. 80GiB (default: the scenario's "
                        "device's: host_mem_cap or RAM / ranks on cpu, 80GiB on cuda)")
    s.add_argument("--explain", metavar="RUN_ID",
                   help="print one scenario's full resolved configuration instead: its axis "
                        "values, the strategies on, the model transforms, the DeepSpeed JSON "
                        "and the predicted bytes")
    s.set_defaults(func=_cmd_plan)

    s = sub.add_parser("strategies", help="list the strategy catalogue: axes, values, rules",
                       description="Every strategy of the catalogue (suite/strategies/) with "
                                   "its one-line description, its axes and their values, the "
                                   "scenario kinds it applies to and its rules.", epilog=epilog)
    s.set_defaults(func=_cmd_strategies)

    s = sub.add_parser("models", help="list the model sizes of the catalogue",
                       description="Every model of the catalogue (suite/models.py): family, "
                                   "layers, width, heads, key/value heads, FFN width, "
                                   "vocabulary, longest sequence and the exact parameter "
                                   "count of the built module.", epilog=epilog)
    s.set_defaults(func=_cmd_models)
