"""Knowledge distillation: a frozen teacher at inference precision, the scenario's model as student.

kind = distill trains the student (with every training strategy of the scenario:
ZeRO, precision, optimizer, ...) on KL(teacher || student) of their logits at
temperature 2 (Hinton et al. 2015), the teacher running forward under no_grad
in bf16 (fp16 where the device lacks bf16), int8/int4 if `quantize` says so.
`teacher` names a catalogue size, built with the student's vocabulary and
positions so their logits line up (CPU-scale sizes differ in vocabulary), or
`self`: the dense model the student (a pruned copy) starts from. Each rank
holds a whole teacher: the record's `teacher_params_bytes`.
"""

from __future__ import annotations

from dataclasses import replace

from suite.models import MODELS, ModelSpec, model_spec
from suite.peak_term import SAVED, PeakTerm
from suite.prediction import add_term
from suite.resolved import Resolved
from suite.strategies import quantization
from suite.strategies.hardware import supports
from suite.strategy_spec import Axis, RankContext, Rule, Strategy, Values

TEMPERATURE = 2.0


def teacher_spec(values: Values) -> ModelSpec:
    student = model_spec(values["model"])
    name = values["model"] if values["teacher"] == "self" else values["teacher"]
    return replace(model_spec(name), vocab_size=student.vocab_size,
                   max_seq_len=student.max_seq_len)


def teacher_dtype(values: Values) -> str:
    return "bfloat16" if supports(values["device"], "bf16") else "float16"


class Objective:
    """The distillation loss for the student's engine, with the teacher it holds."""

    def __init__(self, run: Resolved, ctx: RankContext) -> None:
        import torch  # heavy: torch loads late, in the rank only

        torch.manual_seed(ctx.seed)  # `self`: the very weights the student was pruned from
        teacher = ctx.tools.build_model(teacher_spec(run), device=ctx.torch_device)
        if run["quantize"] != "none":
            teacher = quantization.quantize_model(teacher, run, teacher_dtype(run), ctx.tools)
        self.teacher = teacher.to(getattr(torch, teacher_dtype(run))).eval()
        self.teacher.requires_grad_(False)

    def loss(self, engine, x, y):
        import torch  # heavy: torch loads late, in the rank only
        import torch.nn.functional as F  # heavy: torch loads late, in the rank only

        with torch.no_grad():
            target = self.teacher(x).float() / TEMPERATURE
        logits = engine(x).float() / TEMPERATURE
        v = logits.shape[-1]
        student, teacher = (F.log_softmax(t.view(-1, v), -1) for t in (logits, target))
        return F.kl_div(student, teacher, log_target=True, reduction="batchmean") \
            * TEMPERATURE ** 2

    def held(self) -> dict[str, list]:
        """{RankMetrics field: the tensors it counts}: the rank counts their bytes."""
        return {"teacher_params_bytes": [*self.teacher.parameters(), *self.teacher.buffers()]}


def objective(run: Resolved, ctx: RankContext) -> Objective | None:
    return Objective(run, ctx) if run["teacher"] != "none" else None


def memory_term(values: dict, p):
    if values["quantize"] != "none":
        teacher = values["model"] if values["teacher"] == "self" else values["teacher"]
        # the teacher is dense: the scenario's pruning is the student's
        held = quantization.quantized_bytes({**values, "model": teacher, "pruning": "none"}, 2)
    else:
        held = 2 * teacher_spec(values).n_params
    return add_term(p, values, category="params", name="teacher (frozen, 16-bit)", nbytes=held,
                    note="a whole teacher on every rank, next to the student")


def peak_terms(values: Values, spec: ModelSpec) -> list[PeakTerm]:
    """The loss's terms, in place of the model's own (suite/peak_model.py leaves those out
    for a strategy with an objective). Objective.loss runs the teacher first (under no_grad:
    nothing kept), then the student; the model's activation term already holds the student's
    fp32 log-softmax, which the KL divergence saves like the model's loss would. Per logit
    (b·s·V), fp32: the teacher's log-softmax, saved by kl_div, until backward; at the
    forward's peak, inside kl_div, the student's and the teacher's logits over the
    temperature and kl_div's exp(target), target - input and their product, 5 × 4 bytes;
    at backward's start one fp32 gradient at a time. Measured (tiny on a small teacher and
    on itself, 2 ranks, ZeRO-0, fp32): the forward's tensor peak is these terms' sum."""
    logits = int(values["micro_batch"]) * int(values["seq_len"]) * spec.vocab_size
    return [PeakTerm(name="teacher log-softmax (saved by kl_div)", nbytes=4 * logits,
                     points=SAVED, category="activations"),
            PeakTerm(name="distillation loss temporaries", nbytes=5 * 4 * logits,
                     points=("forward",), category="temporaries",
                     note="both logits over the temperature, kl_div's three fp32 temporaries"),
            PeakTerm(name="distillation loss gradient", nbytes=4 * logits, points=("bwd_start",),
                     category="temporaries")]


def _smaller(v: dict) -> bool:
    if v["teacher"] == "self":
        return v["pruning"].startswith("structured")
    return model_spec(v["teacher"]).n_params > model_spec(v["model"]).n_params


STRATEGY = Strategy(
    name="distillation",
    description="a frozen teacher (inference precision) and the scenario's model as a smaller "
                "student trained on its logits",
    axes=(Axis(name="teacher", type=str, default="none", choices=("none", "self", *MODELS),
               help="distillation teacher: a model size (larger than the student), or self "
                    "(the dense model a structured-pruned student came from)"),),
    rules=(
        Rule(name="distill-needs-teacher",
             reason="kind distill trains a student on a teacher's logits: name the teacher",
             excludes=lambda v: v["kind"] == "distill" and v["teacher"] == "none"),
        Rule(name="teacher-larger-than-student",
             reason="the teacher must be larger than the student (self: the student must be "
                    "structured-pruned)",
             excludes=lambda v: v["teacher"] != "none" and not _smaller(v)),
    ),
    kinds=("distill",),
    objective=objective,
    memory_term=memory_term,
    peak_terms=peak_terms,
)
