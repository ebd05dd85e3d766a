"""Tables and figures built from run records, so that no number in the book is typed by hand."""

from __future__ import annotations

from importlib import resources

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from kdlib.claims import mean_training_seconds, metric_values, points, short_reason  # noqa: F401 (re-exported)
from kdlib.methods import describe_params


def reference_table(name: str) -> pd.DataFrame:
    """A paper's published numbers, shipped with kdlib (``kdlib/reference/<name>.csv``, each row with its source)."""
    with resources.files("kdlib.reference").joinpath(f"{name}.csv").open() as handle:
        return pd.read_csv(handle)


def mean_std(values, scale: float = 100.0, digits: int = 2) -> str:
    """"mean ± std" (sample std, ddof=1) of ``values × scale``; a single value is printed alone. NaN values (runs
    that diverged) are left out and counted."""
    values = np.asarray(values, dtype=float) * scale
    failed = int(np.isnan(values).sum())
    values = values[~np.isnan(values)]
    note = f" ({failed} diverged)" if failed else ""
    if len(values) == 0:
        return "diverged"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}{note}"
    return f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}{note}"


def collapsed(records: list[dict], n_classes: int = 10) -> int:
    """How many runs ended at chance level (final training accuracy below 1.5 / n_classes): a diverged run, which a
    mean over seeds would otherwise hide inside a large standard deviation."""
    return sum(not record["history"] or record["history"][-1]["train_acc"] < 1.5 / n_classes for record in records)


def records_in(found) -> list[dict]:
    """Every run record inside a chapter's results (nested dicts, lists and tuples), each once, in the order met."""
    out: dict[str, dict] = {}

    def walk(item):
        if isinstance(item, dict):
            if "spec" in item and "id" in item and "metrics" in item:
                out.setdefault(item["id"], item)
                return
            for value in item.values():
                walk(value)
        elif isinstance(item, (list, tuple)):
            for value in item:
                walk(value)
    walk(found)
    return list(out.values())


def compute_spent(records: list[dict]) -> pd.DataFrame:
    """Wall time per run, as recorded by the runs themselves; a record listed twice (a run that plays two roles in a
    chapter) counts once."""
    records = list({record["id"]: record for record in records}.values())
    rows = [{"run": record["id"], "model": record["spec"]["model"], "method": record["spec"]["method"],
             "dataset": record["spec"]["dataset"], "epochs": record["spec"]["epochs"],
             "schedule": record["spec"]["schedule"],
             "device": record["provenance"]["device"], "threads": record["provenance"]["threads"],
             "minutes": record["provenance"]["wall_time_s"] / 60} for record in records]
    return pd.DataFrame(rows)


def rebuild_cost(records: list[dict], workers: int = 2) -> dict:
    """What re-training ``records`` from nothing costs, from their own wall times: the runs, CPU-hours (each run
    one process), the wall hours on ``workers`` processes (the CPU-hours spread evenly: a lower bound, since a run
    waits for its teacher), and the share of the time spent outside the optimiser's steps (evaluation, data,
    logging: 1 − Σ per-epoch step time / Σ wall time, over the records that time every epoch's steps)."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    records = list({record["id"]: record for record in records}.values())

    def wall(record) -> float:  # a resumed run's wall time is its last process's; its step time counts them all
        return max(record["provenance"]["wall_time_s"], record["metrics"].get("train_time_s") or 0.0)
    seconds = sum(wall(record) for record in records)
    timed = [r for r in records if r.get("history") and all("train_time_s" in epoch for epoch in r["history"])]
    timed_wall = sum(wall(r) for r in timed)
    steps = sum(epoch["train_time_s"] for r in timed for epoch in r["history"])
    return {"runs": len(records), "cpu_hours": seconds / 3600, "wall_hours": seconds / 3600 / workers,
            "timed_runs": len(timed), "outside_steps_share": 1 - steps / timed_wall if timed_wall else float("nan")}


def elapsed_minutes(records: list[dict]) -> float:
    """Wall-clock minutes from the first run's start to the last run's end, read from the records' end dates and
    wall times: what regenerating them took when they ran in parallel."""
    import datetime

    ends = [datetime.datetime.fromisoformat(r["provenance"]["date"]) for r in records]
    starts = [end - datetime.timedelta(seconds=r["provenance"]["wall_time_s"]) for end, r in zip(ends, records)]
    return (max(ends) - min(starts)).total_seconds() / 60 if records else 0.0


def run_ids(groups: dict) -> pd.DataFrame:
    """The run ids behind each labelled group of records (one per seed): the stable names a reader cites a number
    by, and re-trains with ``python -m kdlib reproduce ID``."""
    return pd.DataFrame({"runs (one per seed)": {str(label): " ".join(record["id"] for record in records)
                                                 for label, records in groups.items()}}).rename_axis("row")


def records_table(records: list[dict]) -> pd.DataFrame:
    """One row per run record: its id, what it trained and what it reached (the book's results page and CSV)."""
    rows = []
    for record in records:
        spec, metrics, provenance = record["spec"], record["metrics"], record["provenance"]
        teachers = [spec["teacher"]] + spec.get("extra_teachers", []) if spec.get("teacher") else []
        rows.append({"id": record["id"], "dataset": spec["dataset"], "model": spec["model"],
                     "method": spec["method"],
                     "params": describe_params(spec["method"], spec["method_params"]),
                     "teacher": " ".join(f"{t['model']}/seed {t['seed']}" for t in teachers),
                     "seed": spec["seed"], "epochs": spec["epochs"], "lr": spec["lr"],
                     "test_acc": metrics.get("test_acc"), "val_acc": metrics.get("val_acc"),
                     "diverged": bool(metrics.get("diverged")),
                     "minutes": provenance["wall_time_s"] / 60, "device": provenance["device"],
                     "threads": provenance["threads"], "commit": (provenance.get("git_commit") or "")[:10],
                     "date": provenance["date"][:10]})
    columns = ["id", "dataset", "model", "method", "params", "teacher", "seed", "epochs", "lr", "test_acc", "val_acc",
               "diverged", "minutes", "device", "threads", "commit", "date"]
    return pd.DataFrame(rows, columns=columns).sort_values(["dataset", "model", "method", "params", "seed"])


def setup_table(specs: dict) -> pd.DataFrame:
    """One row per role (label → RunSpec): the settings a reader needs to judge the budget."""
    rows = []
    for role, spec in specs.items():
        params = describe_params(spec.method, dict(spec.method_params)) or "–"
        rows.append({"role": role, "dataset": spec.dataset, "model": spec.model, "method": spec.method,
                     "method params": params, "epochs": spec.epochs, "optimiser": spec.optimizer, "lr": spec.lr,
                     "weight decay": spec.weight_decay, "batch": spec.batch_size, "schedule": spec.schedule,
                     "augmentation": spec.augment, "training images": spec.subset or "all but validation",
                     "validation images": min(spec.val_size, max(spec.subset // 4, 1)) if spec.subset and spec.val_size
                     else spec.val_size})
    return pd.DataFrame(rows).set_index("role").T


def heatmap(table: pd.DataFrame, title: str, annotation: pd.DataFrame | None = None, ax=None,
            cmap: str = "vlag", center: float | None = 0.0, fmt: str = ".2f"):
    """A seaborn heatmap of a 2-D table (e.g. rows T, columns α)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(1.6 + 1.4 * table.shape[1], 1.0 + 0.7 * table.shape[0]))
    sns.heatmap(table, annot=annotation if annotation is not None else True, fmt="" if annotation is not None
                else fmt, cmap=cmap, center=center, linewidths=0.5, cbar_kws={"label": title}, ax=ax)
    if annotation is not None:  # seaborn leaves NaN cells (e.g. diverged runs) blank and unlabelled
        for row, column in zip(*np.where(table.isna().to_numpy())):
            ax.text(column + 0.5, row + 0.5, annotation.iloc[row, column], ha="center", va="center", color="0.3")
    ax.set_title(title)
    return ax


def learning_curves(records: dict[str, list[dict]], metric: str = "test_acc", ax=None):
    """Mean curve (and its band over seeds) of ``metric`` per epoch for each labelled group of records."""
    rows = [{"epoch": row["epoch"], metric: row[metric] * 100, "run": label, "seed": record["spec"]["seed"]}
            for label, group in records.items() for record in group for row in record["history"]]
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    sns.lineplot(pd.DataFrame(rows), x="epoch", y=metric, hue="run", errorbar="sd", ax=ax)
    ax.set_ylabel(metric.replace("_", " ") + " (%)")
    return ax


def diverged_summary(records: list[dict]) -> str:
    """Which kinds of run diverged, counted by dataset, model and method: "3 mnist mlp_2x100 noisy_teacher, ..."."""
    counts: dict[str, int] = {}
    for record in records:
        if record["metrics"].get("diverged"):
            spec = record["spec"]
            key = f"{spec['dataset']} {spec['model']} {spec['method']}"
            counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{n} {key}" for key, n in sorted(counts.items())) or "none"


def admonition(title: str, kind: str, body: str):
    """An admonition as HTML: myst-nb renders a cell's Markdown output as CommonMark, without MyST directives."""
    from IPython.display import HTML
    return HTML(f'<div class="admonition {kind}"><p class="admonition-title">{title}</p><p>{body}</p></div>')


def shown(frame: pd.DataFrame):
    """A table as the pages show it: no index column, every cell's text left-aligned and wrapped."""
    return frame.style.hide(axis="index").set_properties(**{"text-align": "left", "white-space": "pre-wrap"})


def verdict_box(claims: list, chapter: str):
    """The box at the top of a chapter page: each of its claim-settings with its verdict, the status of the
    positive controls they rest on, and the budget as a share of the paper's."""
    import html

    ours = [claim for claim in claims if claim.chapter == chapter and claim.basis != "paper number"]
    lines = [f"<b>{claim.id}</b> ({html.escape(claim.setting.dataset)}): <b>{claim.verdict}</b>, "
             f"{html.escape(short_reason(claim))}" for claim in ours]
    # one line per setting and control, named by the setting: several settings share a control's wording
    controls = dict.fromkeys((claim.setting.dataset, c.statement, c.holds, c.evidence) for claim in ours
                             for c in claim.preconditions)
    control_text = "; ".join(f"{html.escape(statement)} ({html.escape(dataset)}): "
                             f"{'holds' if holds else '<b>fails</b>'} ({html.escape(evidence.split(': ', 1)[-1])})"
                             for dataset, statement, holds, evidence in controls) or "none stated"
    shares = sorted({claim.setting.budget_share for claim in ours if claim.setting.budget_share is not None})
    budget = ("the paper states no training budget to compare with" if not shares else
              f"{100 * shares[0]:.2g} % of the paper's training steps" if len(shares) == 1 else
              f"{100 * shares[0]:.2g} % to {100 * shares[-1]:.2g} % of the paper's training steps")
    return admonition("The verdicts of this chapter", "tip",
                      "<br>".join(lines) + f"<br><b>Positive controls:</b> {control_text}"
                      f"<br><b>Budget:</b> {budget}.")
