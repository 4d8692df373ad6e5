"""A capacity search: the `[search]` table of a sweep, the ladder of values it climbs, and the
bisection that picks the next probe. Pure: the runs themselves are slurm/searching.py's.

    [search]
    axis = "model"          # or "micro_batch", "seq_len"
    family = "gpt"          # model searches: sizes generated along the family
    from = "small"          # lower end: must fit (a catalogue size, or an integer)
    to = "1.3b"             # upper end
    resolution = 0.10       # bracket to 10% of the parameters (integer axes: a step, >= 1)

Every other axis is crossed as in any sweep; each combination is searched on its own.
A model ladder interpolates layers, heads, head width and vocabulary geometrically between
`from` and `to`, so the sizes between catalogue entries are the family's own shapes; each
value spells its dimensions (suite/models.py `encode`), so a probe is an ordinary scenario
with a stable run_id.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

from suite.axes import AXES as ALL_AXES
from suite.errors import UserInputError
from suite.models import FAMILIES, MODELS, ModelSpec, encode, model_spec
from suite.peak_model import budget_need
from suite.prediction import runtime_bytes
from suite.scenario import RunSettings
from suite.scenario_name import scenario_name
from suite.units import format_bytes, parse_bytes

AXES = ("model", "micro_batch", "seq_len")
AXES_DEFAULTS = {name: axis.default for name, axis in ALL_AXES.items() if name in AXES}
_KEYS = ("axis", "family", "from", "to", "resolution", "capacity")
_POINTS = 600  # interpolation points between the ends; duplicates collapse


@dataclass(frozen=True, kw_only=True)
class SearchSpec:
    """A validated `[search]` table."""

    axis: str
    lower: str | int  # `from`
    upper: str | int  # `to`
    resolution: float  # model: relative bracket width; integer axes: absolute step
    family: str = ""
    capacity: str = ""  # per-rank budget on a GPU, e.g. "70GiB"; "" = the device's own

    def __post_init__(self) -> None:
        if self.axis not in AXES:
            raise UserInputError(f"{self.axis!r} cannot be searched", key="search.axis",
                                 fix=f"search one of {', '.join(AXES)}")
        if self.axis == "model":
            if self.family not in FAMILIES:
                raise UserInputError(f"family {self.family!r} is not one of "
                                     f"{', '.join(FAMILIES)}", key="search.family",
                                     fix='write e.g. family = "gpt"')
            for key, value in (("from", self.lower), ("to", self.upper)):
                spec = _model(value, key)
                if spec.family != self.family:
                    raise UserInputError(f"{value!r} is a {spec.family} model, not "
                                         f"{self.family}", key=f"search.{key}",
                                         fix=f"name a {self.family} size (`memsweep models`)")
            if not 0 < self.resolution < 1:
                raise UserInputError(f"must be between 0 and 1, got {self.resolution!r}",
                                     key="search.resolution",
                                     fix="write e.g. resolution = 0.10 (10% of the parameters)")
            if model_spec(self.upper).n_params <= model_spec(self.lower).n_params:
                raise UserInputError(f"{self.upper!r} is not larger than {self.lower!r}",
                                     key="search.to", fix="`to` must be the larger end")
        else:
            for key, value in (("from", self.lower), ("to", self.upper)):
                if type(value) is not int or value < 1:
                    raise UserInputError(f"must be a positive integer, got {value!r}",
                                         key=f"search.{key}", fix=f"write e.g. {key} = 1")
            if self.upper <= self.lower:
                raise UserInputError(f"{self.upper} is below {self.lower}", key="search.to",
                                     fix="`to` must be above `from`")
            if not (float(self.resolution).is_integer() and self.resolution >= 1):
                raise UserInputError(f"must be a whole step >= 1, got {self.resolution!r}",
                                     key="search.resolution", fix="write e.g. resolution = 1")

    def ladder(self) -> list:
        """The values a probe may take, increasing; the first is `from`, the last `to`."""
        return list(_ladder(self))

    def close_enough(self, ok: object, failed: object) -> bool:
        """Whether the bracket (last ok, first failing) is within the resolution."""
        if self.axis != "model":
            return int(failed) - int(ok) <= self.resolution
        return model_spec(failed).n_params <= model_spec(ok).n_params * (1 + self.resolution)

    def size(self, value: object) -> int:
        """What the boundary is measured in: parameters for a model, the value otherwise."""
        return model_spec(value).n_params if self.axis == "model" else int(value)

    def bisection(self, ladder: list, start: int) -> Bisection:
        """A fresh bisection over `ladder`, midway in log-size for models."""
        scale = [math.log(self.size(v)) if self.axis == "model" else float(v) for v in ladder]
        return Bisection(ladder=ladder, start=start, close_enough=self.close_enough, scale=scale)


@functools.cache
def _ladder(search: SearchSpec) -> tuple:
    """A search's ladder, computed once per process (a model ladder takes ~0.4 s)."""
    if search.axis != "model":
        return (*range(search.lower, search.upper, int(search.resolution)), search.upper)
    return tuple(s.name if s.name in MODELS else encode(s)
                 for s in model_ladder(model_spec(search.lower), model_spec(search.upper)))


def _model(value: object, key: str) -> ModelSpec:
    if not isinstance(value, str):
        raise UserInputError(f"must be a model name, got {value!r}", key=f"search.{key}",
                             fix='write e.g. from = "small" (`memsweep models`)')
    try:
        return model_spec(value)
    except UserInputError:
        raise UserInputError(f"unknown model {value!r}", key=f"search.{key}",
                             fix=f"use one of: {', '.join(MODELS)}") from None


def parse_search(table: object, *, source: str) -> SearchSpec:
    """The `[search]` table, validated; errors name the file and key."""
    if not isinstance(table, dict):
        raise UserInputError("must be a table", source=source, key="search",
                             fix='write [search] with axis = "model", from = ..., to = ...')
    for key in table:
        if key not in _KEYS:
            raise UserInputError("unknown key", source=source, key=f"search.{key}",
                                 fix=f"known keys: {', '.join(_KEYS)}")
    for key in ("axis", "from", "to"):
        if key not in table:
            raise UserInputError("missing", source=source, key=f"search.{key}",
                                 fix='e.g. axis = "model", from = "small", to = "1.3b"')
    axis = table["axis"]
    default = 0.10 if axis == "model" else 1
    try:
        return SearchSpec(axis=axis, lower=table["from"], upper=table["to"],
                          resolution=table.get("resolution", default),
                          family=table.get("family", _family_of(table.get("from"))
                                           if axis == "model" else ""),
                          capacity=table.get("capacity", ""))
    except UserInputError as e:
        raise UserInputError(str(e).split(": ", 1)[-1], source=source, key=e.key,
                             fix=e.fix) from None


def _family_of(value: object) -> str:
    try:
        return model_spec(value).family if isinstance(value, str) else ""
    except UserInputError:
        return ""


def model_ladder(lo: ModelSpec, hi: ModelSpec) -> list[ModelSpec]:
    """The family's shapes between `lo` and `hi`, strictly increasing in parameters.

    Layers, heads, head width and vocabulary move geometrically from one end to the other
    (head width a multiple of 8, as real models have it; each rounded both ways, so that a
    layer more does not leave a gap); the MLP keeps its ratio to the width, grouped-query
    attention its heads per key/value head."""
    shapes = {encode(lo): lo, encode(hi): hi}
    for i in range(1, _POINTS):
        for spec in _near(lo, hi, i / _POINTS):
            shapes.setdefault(encode(spec), spec)
    out: list[ModelSpec] = []
    for spec in sorted(shapes.values(), key=lambda s: s.n_params):
        if lo.n_params <= spec.n_params <= hi.n_params and \
                (not out or spec.n_params > out[-1].n_params):
            out.append(spec)
    return out


def _geo(a: float, b: float, t: float) -> float:
    return math.exp(math.log(a) + (math.log(b) - math.log(a)) * t)


def _both(x: float, unit: int = 1) -> set[int]:
    """x rounded down and up to a multiple of `unit` (at least `unit`)."""
    return {max(unit, math.floor(x / unit) * unit), max(unit, math.ceil(x / unit) * unit)}


def _near(lo: ModelSpec, hi: ModelSpec, t: float) -> list[ModelSpec]:
    group = lo.n_head // lo.kv_heads  # query heads per key/value head
    ffn_ratio = _geo(lo.ffn / lo.d_model, hi.ffn / hi.d_model, t)
    vocab = round(_geo(lo.vocab_size, hi.vocab_size, t) / 8) * 8
    out = []
    for layers in _both(_geo(lo.n_layer, hi.n_layer, t)):
        for heads in _both(_geo(lo.n_head, hi.n_head, t), group):
            for head_dim in _both(_geo(lo.head_dim, hi.head_dim, t), 8):
                d = heads * head_dim
                out.append(ModelSpec(
                    name="", family=lo.family, n_layer=layers, d_model=d, n_head=heads,
                    n_kv_head=heads // group if lo.family == "llama" else 0,
                    d_ff=max(8, round(d * ffn_ratio / 8) * 8) if lo.family == "llama" else 0,
                    vocab_size=max(8, vocab), max_seq_len=max(lo.max_seq_len, hi.max_seq_len),
                    scale="custom", tied=lo.tied, qkv_bias=lo.qkv_bias,
                    rope_theta=lo.rope_theta))
    return out


@dataclass
class Bisection:
    """Which ladder index to probe next, from the outcomes so far.

    Starts at `start` (the predicted boundary), brackets by stepping out one resolution
    at a time and doubling, then bisects. `ok` is the highest index known to fit, `failed`
    the lowest known not to (-1 and len(ladder) while unknown).
    """

    ladder: list
    start: int
    close_enough: object  # (ok_value, failed_value) -> bool
    scale: list[float] = field(default_factory=list)  # where each value lies (bisect midway)
    ok: int = -1
    failed: int = -1
    _step: int = 1
    seen: dict[int, bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.failed = len(self.ladder)
        self.start = min(max(self.start, 0), len(self.ladder) - 1)

    def record(self, index: int, fits: bool) -> None:
        self.seen[index] = fits
        if fits:
            self.ok = max(self.ok, index)
        else:
            self.failed = min(self.failed, index)

    def done(self) -> bool:
        if self.ok == len(self.ladder) - 1 or self.failed == 0:
            return True  # the whole range fits, or nothing does
        if self.ok < 0 or self.failed >= len(self.ladder):
            return False
        return self.failed - self.ok <= 1 or self.close_enough(self.ladder[self.ok],
                                                               self.ladder[self.failed])

    def next(self) -> int | None:
        """The next index to probe, or None when the bracket is within the resolution."""
        if self.done():
            return None
        if not self.seen:
            return self.start
        if self.failed >= len(self.ladder):  # climbing: no failure yet
            i = self._beyond(self.ok, up=True)
        elif self.ok < 0:  # descending: nothing fits yet
            i = self._beyond(self.failed, up=False)
        else:
            return self._midway()
        self._step *= 2
        return i

    def _midway(self) -> int:
        """The index strictly inside the bracket nearest its middle on `scale`."""
        scale = self.scale or list(range(len(self.ladder)))
        middle = (scale[self.ok] + scale[self.failed]) / 2
        inside = range(self.ok + 1, self.failed)
        return min(inside, key=lambda i: abs(scale[i] - middle))

    def _beyond(self, index: int, *, up: bool) -> int:
        """One resolution step past `index` the first time, then twice as far each time."""
        target = index
        for _ in range(self._step):
            target = self._one_step(target, up=up)
        return target

    def _one_step(self, index: int, *, up: bool) -> int:
        """The farthest index still within a resolution of `index` (at least the next one):
        when the prediction was right, the probe there ends the search in two probes."""
        d, n = (1 if up else -1), len(self.ladder)
        j = index + d
        while 0 <= j + d < n:
            a, b = (index, j + d) if up else (j + d, index)
            if not self.close_enough(self.ladder[a], self.ladder[b]):
                break
            j += d
        return max(0, min(n - 1, j))


def combination_name(search: SearchSpec, values: dict) -> str:
    """A combination for people: its scenario name without the searched axis."""
    if search.axis == "model":
        return scenario_name(values).split(" · ", 1)[1]
    return scenario_name({**values, search.axis: AXES_DEFAULTS[search.axis]})


def budget_bytes(search: SearchSpec, values: dict, settings: RunSettings) -> int | None:
    """The per-rank memory a probe must fit in: `capacity` if given, else on the CPU the
    rank's cap (`host_mem_cap`, what RLIMIT_DATA enforces), else None (the GPU's own memory,
    which the probe's out-of-memory error decides)."""
    if search.capacity:
        return parse_bytes(search.capacity, key="search.capacity")
    if values["device"] == "cpu" and settings.host_mem_cap:
        return parse_bytes(settings.host_mem_cap, key="sweep.host_mem_cap")
    return None


def predicted_need(values: dict) -> int:
    """What the analytical model says a rank needs of the budget: its predicted peak plus the
    runtime baseline (suite/peak_model.py)."""
    return budget_need(values)


def predicted_index(search: SearchSpec, ladder: list, values: dict, budget: int | None) -> int:
    """The ladder index of the predicted boundary: the largest value predicted to fit (the
    middle of the ladder where there is no budget to predict against)."""
    if budget is None:
        return len(ladder) // 2
    lo, hi = 0, len(ladder) - 1  # predicted need grows with the value: bisect it
    if predicted_need({**values, search.axis: ladder[lo]}) > budget:
        return 0
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if predicted_need({**values, search.axis: ladder[mid]}) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def check_search(search: SearchSpec, scenarios: list, *, source: str) -> None:
    """Refuse, before anything runs, a search that cannot answer: no budget on the CPU, a
    budget below what the runtime alone takes, a lower end predicted not to fit."""
    for scenario in scenarios:
        values = scenario.values
        budget = budget_bytes(search, values, scenario.settings)
        if budget is None and values["device"] == "cpu":
            raise UserInputError("a search on the CPU needs a per-rank budget", source=source,
                                 key="sweep.host_mem_cap",
                                 fix='set host_mem_cap = "3GiB" under [sweep] (each rank is '
                                     'capped there), or capacity under [search]')
        if budget is None:
            continue
        floor = runtime_bytes(values)
        if budget <= floor:
            raise UserInputError(
                f"{format_bytes(budget)} is below what the runtime alone takes per rank "
                f"({format_bytes(floor)}: Python, torch, DeepSpeed, communication)",
                source=source, key="sweep.host_mem_cap" if not search.capacity
                else "search.capacity", fix="give each rank more than that")
        need = predicted_need({**values, search.axis: search.lower})
        if need > budget:
            raise UserInputError(
                f"the lower end {search.lower!r} is predicted to need {format_bytes(need)} "
                f"per rank, over the budget of {format_bytes(budget)} "
                f"({combination_name(search, values)})", source=source, key="search.from",
                fix="start the search from a smaller value, or raise the budget")
