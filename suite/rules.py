"""Catalogue rules: combinations that cannot run, each with its reason.

Every strategy brings its own (suite/strategies/); the catalogue adds one rule
per strategy that applies to some scenario kinds only, and one per preset
strategy (a preset sets axes the sweep must leave alone). A combination that is
valid but does not fit in memory is not excluded here: it runs and is recorded
`oom`.
"""

from __future__ import annotations

from suite.strategies import rules as catalogue_rules
from suite.strategy_spec import Rule

__all__ = ["RULES", "Rule", "violated_rule"]

RULES: tuple[Rule, ...] = catalogue_rules()


def violated_rule(values: dict) -> Rule | None:
    return next((r for r in RULES if r.excludes(values)), None)
