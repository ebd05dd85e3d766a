"""Runs of the synthesis chapter: every method of the book on one common benchmark per dataset.

One teacher (LeNet-5, the data-free chapter's, itself the record another chapter trained), one student (LeNet-5-half),
MNIST and Fashion-MNIST, the same recipe and seeds for every method that trains on real data: the data-free chapter's
KD-with-real-data run (5 epochs, SGD 0.05, one-epoch warm-up and cosine). The rows that chapter already has (KD with
real data, DAFL, RDSKD) are its records, not copies; the data-free rows train on generated images with their own budget,
and the chapter marks them so. Each method keeps the settings its own chapter starts from (the official or the book's
defaults), with one exception: logit regression and the noisy teacher regress raw logits, which at the recipe's learning
rate (0.05) diverged or sat at chance on every seed of the first edition, so their learning
rate is chosen on validation (seed 0) from ``REGRESSION_RATES``, the noisy teacher taking plain regression's, as in
its own chapter. A seed that ends at chance is counted as collapsed and left out of the mean and the comparison,
so the table gives a failure rate beside the mean of the others instead of a spread that hides it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kdlib import claims, report, stats
from kdlib.chapters import Choose, data_free, load_plan, plan_stages
from kdlib.methods.noisy import NoiseParams
from kdlib.profiles import seeds_knob
from kdlib.spec import RunSpec

CHAPTER = "synthesis"
PAGE = "06_synthesis"  # its notebook: notebooks/06_synthesis.py
# the benchmark runs at the data-free chapter's budget; its seeds are the benchmark's own (every one from the
# seed-0 teacher), not the data-free chapter's main rows'
KNOBS = {**data_free.KNOBS, "seeds": seeds_knob("the benchmark's seeds (every one taught by the seed-0 teacher)")}
check = data_free.check
budget = data_free.budget


def datasets(profile: str) -> tuple[str, ...]:
    """Every dataset the chapter's runs read (the CLI checks them all before the first run)."""
    return tuple(budget(profile)["datasets"])

# What each method needs besides the labelled training set: (a pre-trained teacher, real training images, a second
# network during training, data-free). "a second network" counts the generator of the data-free methods.
NEEDS = {
    "student on labels": ("no", "yes", "no"),
    "Hinton KD": ("yes", "yes", "the teacher"),
    "logit regression": ("yes", "yes", "the teacher"),
    "noisy teacher": ("yes", "yes", "the teacher"),
    "Rocket (joint, no sharing)": ("no", "yes", "a booster, trained alongside"),
    "Tf-KD_self": ("its own pre-trained copy", "yes", "the copy"),
    "Tf-KD_reg": ("no", "yes", "no"),
    "label smoothing (LSR)": ("no", "yes", "no"),
    "self-distillation (deepest exit)": ("no", "yes", "extra exits, dropped after training"),
    "DAFL": ("yes", "no (generated images)", "a generator"),
    "RDSKD": ("yes", "no (generated images)", "a generator, trained first"),
}
DATA_FREE = ("DAFL", "RDSKD")


# Fixed before their runs (2026-12-07): the noisy-teachers chapter's logit-regression rates, around its 0.003.
REGRESSION_RATES = (0.001, 0.003, 0.01)


def _shared(profile: str, dataset: str) -> dict[str, list[RunSpec]]:
    """The data-free chapter's main rows at the benchmark's seeds, every seed from the seed-0 teacher (the first
    edition's protocol, which the benchmark keeps: one teacher for every method)."""
    return data_free.main_runs(profile, dataset, per_seed=False, seeds=budget(profile)["benchmark_seeds"])


def _labels(profile: str, dataset: str) -> list[RunSpec]:
    """The student on labels, per seed: the data-free chapter's KD recipe (with the book's one-epoch warm-up, which
    kept KD from collapsing there) without a teacher."""
    return [spec.replace(method="ce", teacher=None, method_params=())
            for spec in _shared(profile, dataset)["KD, real data"]]


def regression_pilots(profile: str, dataset: str) -> dict[float, RunSpec]:
    """Seed-0 logit regression at each of ``REGRESSION_RATES``: its learning rate is chosen among them on
    validation."""
    teacher = data_free.teacher(profile, dataset)
    return {lr: _labels(profile, dataset)[0].replace(method="logit_regression", teacher=teacher, lr=lr)
            for lr in REGRESSION_RATES}


def benchmark_runs(profile: str, dataset: str, regression_lr: float) -> dict[str, list[RunSpec]]:
    """Per method, one spec per seed, in the order of ``NEEDS``; the regression rows train at ``regression_lr``,
    the rate their pilots chose on validation (``plan``)."""
    shared = _shared(profile, dataset)
    labels = _labels(profile, dataset)
    teacher = data_free.teacher(profile, dataset)
    own_copy = labels[0]  # Tf-KD_self: the student's own seed-0 run teaches every seed
    variants = {
        "logit regression": dict(method="logit_regression", teacher=teacher, lr=regression_lr),
        "noisy teacher": dict(method="noisy_teacher", teacher=teacher, lr=regression_lr,
                              method_params=tuple(NoiseParams().as_dict().items())),
        "Rocket (joint, no sharing)": dict(model="rocket_lenet5half_lenet5_none", method="rocket"),
        "Tf-KD_self": dict(method="kd", teacher=own_copy, method_params=data_free.KD_PARAMS),
        "Tf-KD_reg": dict(method="tf_reg"),
        "label smoothing (LSR)": dict(method="lsr"),
        "self-distillation (deepest exit)": dict(model="lenet5_half_sd_exits", method="self_distillation"),
    }
    rows = {"student on labels": labels, "Hinton KD": shared["KD, real data"],
            **{label: [spec.replace(**changes) for spec in labels] for label, changes in variants.items()},
            "DAFL": shared["DAFL"], "RDSKD": shared["RDSKD"]}
    assert list(rows) == list(NEEDS)
    return rows


def pilot_choice(dataset: str) -> str:
    """The name of the regression-rate choice on ``dataset`` (what ``kdlib.chapters.Missing`` reports)."""
    return f"regression lr on {dataset}"


def prerequisites(spec: RunSpec) -> list[RunSpec]:
    """Every run a method needs before its own, however deep (RDSKD's student: its generator and the teacher they
    share): the closure of ``kdlib.executors.prerequisites``, each run once."""
    from kdlib import executors

    before = executors.prerequisites(spec)
    found = [*before, *[earlier for run in before for earlier in prerequisites(run)]]
    return list({run.id: run for run in found}.values())  # RDSKD's student and generator share one teacher


def plan(profile, choose: Choose) -> dict:
    """What the chapter trains: per dataset, the regression pilots (seed 0), whose best rate on validation sets the
    regression rows' learning rate, then every row of the benchmark. The datasets' choices are independent, so their
    pilots train together, and every pilot stays in the plan, the rates not chosen too. The teachers and generators
    the rows need train first, as their prerequisites, and the rows shared with the data-free chapter are its records
    (trained there, or here if missing)."""
    pilots = {dataset: regression_pilots(profile, dataset) for dataset in datasets(profile)}
    rates = choose.each({pilot_choice(dataset): grid for dataset, grid in pilots.items()})
    return {"pilots": pilots, "table": {dataset: benchmark_runs(profile, dataset, rates[pilot_choice(dataset)])
                                        for dataset in pilots}}


def stages(profile: str, device=None) -> list:
    """The regression pilots, then every row of the benchmark (derived from ``plan``)."""
    return plan_stages(plan, profile, depth=2)


def results(profile: str, train_missing: bool = True, device=None) -> dict:
    """Per dataset and method, the records over seeds; and per dataset and method, the records of what each seed's
    run needed first (teachers, generators), for the cost including them. The pilots' records are left out: the
    rate they chose is in the regression rows' own specs."""
    def read(spec: RunSpec) -> dict:
        return data_free.record(spec, train_missing, device)

    rows = plan(profile, Choose(read))["table"]
    return {"table": load_plan(plan, profile, read)["table"],
            "prerequisites": {dataset: {label: [[read(run) for run in prerequisites(spec)] for spec in specs]
                                        for label, specs in methods.items()} for dataset, methods in rows.items()}}


BASELINE = "student on labels"


def gains(results: dict) -> dict[str, dict[str, stats.Comparison]]:
    """Per dataset, every method against the student on labels (paired where seed-matched), with Holm's correction
    across the benchmark's own family (every method on every dataset): descriptive, not a claim of any paper."""
    found = {dataset: {label: claims.compare(f"{label} − {BASELINE}", _without_collapsed(records),
                                             _without_collapsed(rows[BASELINE]))
                       for label, records in rows.items() if label != BASELINE}
             for dataset, rows in results["table"].items()}
    flat = [(dataset, label) for dataset, rows in found.items() for label in rows]
    adjusted = stats.holm([found[d][label].p for d, label in flat])
    for (dataset, label), p in zip(flat, adjusted):
        found[dataset][label] = stats.with_holm(found[dataset][label], p_holm=None if np.isnan(p) else float(p))
    return found


def _without_collapsed(records: list[dict]) -> list[dict]:
    """The records with a collapsed seed's accuracy (ended at chance, or diverged) left out as NaN: a failure is
    counted (``report.collapsed``), not averaged into a spread."""
    return [{**record, "metrics": {**record["metrics"], "test_acc": None}} if report.collapsed([record]) else record
            for record in records]


def _minutes(records: list[dict], before: list[list[dict]] | None = None) -> float:
    """Mean wall time per seed in minutes; with ``before``, each seed's run plus the runs it needed first."""
    before = before or [[] for _ in records]
    return float(np.mean([(r["provenance"]["wall_time_s"] + sum(p["provenance"]["wall_time_s"] for p in needed))
                          / 60 for r, needed in zip(records, before)]))


def benchmark_table(results: dict, dataset: str) -> pd.DataFrame:
    """One row per method (in the order of ``NEEDS``): accuracy over seeds, its gain over the student on labels with a
    95 % interval and the Holm-adjusted p of ``gains``, training time in minutes (two decimals) alone and with what
    it needs first, what it needs, and the run ids."""
    rows, gain = results["table"][dataset], gains(results)[dataset]
    out = []
    for label, records in rows.items():
        comparison = gain.get(label)
        needs_teacher, real_data, second = NEEDS[label]
        kept = report.metric_values(_without_collapsed(records))
        out.append({"method": label, "collapsed seeds": f"{report.collapsed(records)} of {len(records)}",
                    "test acc (%), the others": report.mean_std(kept[np.isfinite(kept)]) if np.isfinite(kept).any()
                    else "–",
                    "Δ vs labels [95 % CI]": "–" if comparison is None else comparison.text(),
                    "test": "–" if comparison is None else comparison.test,
                    "p (Holm)": "–" if comparison is None else claims.format_p(comparison.p_holm),
                    "training (min)": f"{_minutes(records):.2f}",
                    "with what it needs first (min)":
                        f"{_minutes(records, results['prerequisites'][dataset][label]):.2f}",
                    "pre-trained teacher": needs_teacher, "real training images": real_data,
                    "second network": second, "run ids": " ".join(r["id"] for r in records)})
    return pd.DataFrame(out)


def significant_gains(results: dict) -> dict[str, dict[str, list[str]]]:
    """Per dataset, the methods significantly above and below the student on labels after Holm's correction."""
    out = {}
    for dataset, rows in gains(results).items():
        significant = {label: c for label, c in rows.items() if c.p_holm is not None and c.p_holm < stats.ALPHA}
        out[dataset] = {"higher": [label for label, c in significant.items() if c.effect > 0],
                        "lower": [label for label, c in significant.items() if c.effect < 0]}
    return out


# --- the page's tables, figures and the numbers its prose quotes ------------------------------------------------
# Each takes the chapter's results (or the book's ledger) and returns a table, a figure, a sentence or a dict of
# glue name → value, so the notebook is prose plus one call each, and each is reachable by a unit test.

DATASET_NAMES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}  # here a dataset of its own, not a stand-in


def setup_table(results: dict, dataset: str | None = None) -> pd.DataFrame:
    """What each method trains with on ``dataset`` (the first of the results when None), read from its seed-0
    record's spec: model, loss and its settings, teacher, epochs, optimiser, schedule, batch and training data."""
    from kdlib.methods import parse_params

    dataset = dataset or next(iter(results["table"]))
    rows = []
    for label, records in results["table"][dataset].items():
        spec = RunSpec.from_dict(records[0]["spec"])
        teacher = (f"{spec.teacher.model} ({spec.teacher.method}, {spec.teacher.epochs} epochs)" if spec.teacher
                   else "–")
        rows.append({"method": label, "model": spec.model, "loss (kdlib method)": spec.method,
                     "its settings": parse_params(spec.method, dict(spec.method_params)).describe(),
                     "teacher": teacher, "epochs": spec.epochs, "optimiser": f"{spec.optimizer}, lr {spec.lr:g}",
                     "schedule": spec.schedule, "batch": spec.batch_size,
                     "training data": "generated" if label in DATA_FREE else "real"})
    return pd.DataFrame(rows)


def regression_chosen(results: dict) -> str:
    """The learning rate the regression rows trained with on each dataset (the one their pilots chose on validation,
    read from the rows' own records), with a note when it sits at an edge of ``REGRESSION_RATES``."""
    edge = {min(REGRESSION_RATES): "the grid's smallest: a smaller rate was not tried",
            max(REGRESSION_RATES): "the grid's largest: a larger rate was not tried"}
    chosen = {dataset: rows["logit regression"][0]["spec"]["lr"] for dataset, rows in results["table"].items()}
    return "; ".join(f"{DATASET_NAMES.get(dataset, dataset)}: {lr:g}" + (f", {edge[lr]}" if lr in edge else "")
                     for dataset, lr in chosen.items())


def significant_gains_text(results: dict) -> str:
    """The significant gains in words, one sentence per dataset: how many methods lie significantly above and below
    the student on labels after Holm's correction (``significant_gains``), and which."""
    found, significant = gains(results), significant_gains(results)
    return " ".join(
        f"On {DATASET_NAMES.get(dataset, dataset)}, {len(significant[dataset]['higher'])} of the "
        f"{len(found[dataset])} methods are significantly above the student on labels after Holm's correction "
        f"({', '.join(significant[dataset]['higher']) or 'none'}) and {len(significant[dataset]['lower'])} "
        f"significantly below it ({', '.join(significant[dataset]['lower']) or 'none'})." for dataset in found)


def collapse_note(results: dict) -> str:
    """A sentence on the runs on real data that ended at chance or diverged (``report.collapsed``), per method and
    dataset with their count of seeds, or that none did; the data-free rows are left out."""
    collapsed = {f"{label} on {DATASET_NAMES.get(dataset, dataset)}": (report.collapsed(records), len(records))
                 for dataset, rows in results["table"].items() for label, records in rows.items()
                 if label not in DATA_FREE and report.collapsed(records)}
    if not collapsed:
        return "No run on real data ended at chance level."
    return ("Some runs on real data ended at chance level (final training accuracy under 15 %) or diverged: "
            + ", ".join(f"{label} ({count} of {n} seeds)" for label, (count, n) in collapsed.items())
            + ". They are counted, and left out of the means and comparisons above.")


def page_numbers(results: dict) -> dict:
    """The numbers and sentences the benchmark's prose quotes, by glue name."""
    return {"regression_rates": ", ".join(f"{lr:g}" for lr in REGRESSION_RATES),
            "regression_chosen": regression_chosen(results), "summary": significant_gains_text(results),
            "collapse_note": collapse_note(results)}


def gain_cost_points(results: dict) -> pd.DataFrame:
    """One row per dataset and method: its mean gain over the student on labels (points; 0 for the baseline itself)
    against its mean training minutes with what it needs first, and whether it learns on real or generated data."""
    found = gains(results)
    return pd.DataFrame([{"dataset": DATASET_NAMES.get(dataset, dataset), "method": label,
                          "data": "no data (generated images)" if label in DATA_FREE else "real data",
                          "Δ test acc vs labels (points)": found[dataset][label].effect if label in found[dataset]
                          else 0.0,
                          "training cost, with what it needs first (min)":
                              _minutes(records, results["prerequisites"][dataset][label])}
                         for dataset, rows in results["table"].items() for label, records in rows.items()])


def gain_cost_figure(results: dict):
    """Gain against cost (``gain_cost_points``), one panel per dataset and kind of data: real data and generated data
    on rows of their own, so the data-free methods' losses of tens of points do not set the axis the real-data
    methods (within about a point of each other) are read on; a grey line at no gain."""
    import seaborn as sns

    grid = sns.relplot(gain_cost_points(results), x="training cost, with what it needs first (min)",
                       y="Δ test acc vs labels (points)", hue="method", style="data", col="dataset", row="data",
                       s=70, height=3.2, aspect=1.5, facet_kws={"sharey": False, "sharex": False})
    for ax in grid.axes.flat:
        ax.axhline(0.0, color="0.6", linewidth=0.8, zorder=0)
    return grid


# --- the book's ledger, as this page shows it ---------------------------------------------------------------------

def ledger_numbers(ledger: list[claims.Claim]) -> dict:
    """The ledger's size as the prose quotes it: claims, claim-settings, comparisons, and the claim-settings per
    verdict (``claims.counts``, every verdict, in its order)."""
    return {"n_claims": len({claim.id for claim in ledger}), "n_settings": len(ledger),
            "n_comparisons": sum(len(claim.comparisons) for claim in ledger),
            "verdict_counts": ", ".join(f"{n} {verdict}" for verdict, n in claims.counts(ledger).items())}


def verdict_table(ledger: list[claims.Claim]) -> pd.DataFrame:
    """Claim-settings per chapter (in the ledger's order, the book's) and verdict (in ``claims.counts``' order; only
    the verdicts some claim reached)."""
    chapters = list(dict.fromkeys(claim.chapter for claim in ledger))
    found = claims.counts(ledger)
    verdicts = [verdict for verdict, n in found.items() if n]
    return pd.DataFrame([{"chapter": chapter, **{verdict: sum(claim.chapter == chapter and claim.verdict == verdict
                                                             for claim in ledger) for verdict in verdicts}}
                         for chapter in chapters])


def compact_table(ledger: list[claims.Claim], chapter: str) -> pd.DataFrame:
    """One chapter's claims of the ledger as ``claims.compact_table`` shows them."""
    return claims.compact_table([claim for claim in ledger if claim.chapter == chapter])
