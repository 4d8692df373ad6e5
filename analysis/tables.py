"""Summary tables: each takes the tidy frame and returns a DataFrame (pages render them)."""

from __future__ import annotations

import pandas as pd

from analysis.grouping import FACET_COLUMNS, facet_label, model_order, offload_order
from analysis.units import DASH, human_bytes, human_count, human_rate, human_seconds
from results.schema import STATUSES, RunRecord

LOG_LINES = 6  # lines of a failed run's log tail shown on the failures page

# summary column -> (frame column, how it is shown)
_SUMMARY = {
    "step time": ("step_time_s", human_seconds),
    "samples/s": ("samples_per_s", human_rate),
    "tokens/s": ("tokens_per_s", human_rate),
    "final loss": ("final_loss", lambda v: f"{v:.4g}"),
    "params/rank": ("params_bytes", human_bytes),
    "grads/rank": ("grads_bytes", human_bytes),
    "master/rank": ("master_params_bytes", human_bytes),
    "optim. states/rank": ("optimizer_state_bytes", human_bytes),
}


def ordered(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows by model size (parameter count), ZeRO stage, offload (none first), the rest."""
    models = {m: i for i, m in enumerate(model_order(frame))}
    offloads = {o: i for i, o in enumerate(offload_order(frame["offload_optimizer"].dropna()))}
    rank = pd.DataFrame({"m": frame["model"].map(models), "o": frame["offload_optimizer"]
                         .map(offloads)}, index=frame.index)
    keys = [c for c in ("zero_stage", *FACET_COLUMNS, "repetition") if c in frame]
    order = pd.concat([rank, frame[keys]], axis=1).sort_values(["m", "zero_stage", "o", *keys[1:]],
                                                               na_position="last").index
    return frame.loc[order]


def varying(frame: pd.DataFrame) -> list[str]:
    """The facet axes that take more than one value in `frame`."""
    return [c for c in (*FACET_COLUMNS, "repetition")
            if c in frame and frame[c].nunique(dropna=False) > 1]


def peak_per_rank(frame: pd.DataFrame) -> pd.Series:
    """Peak memory per rank of each run: device allocated on GPU, host RSS on CPU."""
    on_gpu = (frame["device"] == "cuda") & frame["peak_device_bytes"].notna()
    return frame["peak_device_bytes"].where(on_gpu, frame["peak_host_rss_bytes"])


def summary_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per run, human units: configuration, status, memory, speed, loss."""
    frame = ordered(frame)
    out = pd.DataFrame({
        "model": frame["model"],
        "params": frame["n_params"].map(lambda n: DASH if pd.isna(n) else human_count(int(n))),
        "ZeRO": frame["zero_stage"].astype(str), "offload": frame["offload_optimizer"],
    })
    for col in varying(frame):
        out[col.replace("_", " ")] = frame[col].astype(str)
    out["status"] = frame["status"]
    peak = peak_per_rank(frame)
    out["peak mem/rank"] = [human_bytes(v) + (" (GPU)" if d == "cuda" and pd.notna(v) else "")
                            for v, d in zip(peak, frame["device"], strict=True)]
    for name, (column, show) in _SUMMARY.items():
        out[name] = [DASH if pd.isna(v) else show(v) for v in frame[column]]
    return out.reset_index(drop=True)


def status_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Runs per status, in the schema's order of statuses."""
    counts = frame["status"].value_counts()
    return pd.DataFrame({"status": [s for s in STATUSES if s in counts],
                         "runs": [int(counts[s]) for s in STATUSES if s in counts]})


def failures_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Every run that is not ok: id, configuration, status, reason, last lines of its log."""
    rows = ordered(frame[frame["status"] != "ok"])
    return pd.DataFrame({
        "run_id": rows["run_id"], "config": [config_label(r) for _, r in rows.iterrows()],
        "status": rows["status"], "reason": rows["reason"].fillna(DASH),
        "log_tail": rows["log_tail"].map(last_lines),
        "source_dir": rows["source_dir"] if "source_dir" in rows else "",
    }).reset_index(drop=True)


def config_label(row: pd.Series) -> str:
    """`small · ZeRO 1 · offload cpu · 2 ranks · fp32 · ...`: the run's whole configuration."""
    facet = facet_label({c: row[c] for c in FACET_COLUMNS if c in row})
    return f"{row['model']} · ZeRO {row['zero_stage']} · offload {row['offload_optimizer']}" \
        + (f" · {facet}" if facet else "")


def last_lines(text: object, n: int = LOG_LINES) -> str:
    if pd.isna(text) or not str(text).strip():
        return ""
    return "\n".join(str(text).rstrip().splitlines()[-n:])


def environment_table(records: list[RunRecord]) -> pd.DataFrame:
    """Each fingerprint entry (host, CPU, GPU, versions, ...) with its distinct values.

    Entries that differ on every run (dates, Slurm job ids) are left out: they say
    nothing about the environment as a whole.
    """
    values: dict[str, dict[str, None]] = {}
    for r in records:
        for key, value in r.fingerprint.items():
            if isinstance(value, str | int | float | bool) and value != "":
                values.setdefault(key, {})[str(value)] = None
    rows = [(k, ", ".join(v) if len(v) <= 3 else f"{len(v)} distinct values")
            for k, v in values.items() if len(v) == 1 or len(v) < len(records)]
    return pd.DataFrame(rows, columns=["fingerprint", "value"])
