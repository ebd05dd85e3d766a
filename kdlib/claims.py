"""The book's claims and their verdicts, defined once.

A claim is tested in one setting (dataset, model, budget) by one or more comparisons of run records, all of which
must go its way (a claim "A beats B and C" is two comparisons). Its verdict is one of five:

- **supported**: every comparison is significant in the claimed direction after Holm's correction;
- **contradicted**: at least one is significant in the opposite direction (for a claim of "matches": the difference
  is significantly larger than the margin the claim states);
- **equivalent**: only for claims of "matches": every comparison lies within the stated margin (two one-sided
  tests, after correction);
- **inconclusive**: none of these; the minimum detectable effect says how large an effect the test could have seen;
- **untestable here**: a stated precondition failed (the teacher does not beat the student alone, KD does not beat
  the student on labels, ...), so the comparison says nothing about the paper's claim at this scale.

Preconditions are positive controls, not claims: one holds when its 95 % interval lies wholly on the required side
of zero (unadjusted; they are not part of the family). The family Holm's correction runs over is fixed by the
claims, not by their outcomes: every comparison of every statistically tested claim in the whole ledger
(``adjust``), untestable ones included, so a failed control cannot make the others easier to pass, and a chapter
page and the synthesis page show the same adjusted p. Holm over single comparisons is conservative for a claim that
needs all of its comparisons (an intersection–union test would need no correction within the claim). Nothing is
ever supported by the absence of a difference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from kdlib import stats

VERDICTS = ("supported", "contradicted", "equivalent", "inconclusive", "untestable here")
EXPECTS = ("higher", "lower", "matches")
BASES = ("test", "derivation", "measurement")
COLOURS = {"supported": "#1b7837", "contradicted": "#b2182b", "equivalent": "#2166ac", "inconclusive": "#969696",
           "untestable here": "#e08214"}
_PAIRED_FIELDS = ("dataset", "model", "subset", "val_size", "batch_size", "augment")


@dataclass(frozen=True)
class Setting:
    """Where a claim was tested: ``dataset`` names a stand-in as one ("Fashion-MNIST (stand-in for CIFAR-10)")."""

    dataset: str
    model: str
    budget: str  # e.g. "20 epochs (paper: not stated)"
    budget_share: float | None = None  # our training steps as a share of the paper's, where the paper says


@dataclass(frozen=True)
class Precondition:
    statement: str
    holds: bool
    evidence: str


@dataclass(frozen=True)
class Claim:
    """One claim in one setting; ``verdict`` and ``reason`` are computed from the comparisons, never stored."""

    id: str
    chapter: str
    statement: str
    paper: str  # the paper's setting, e.g. "CIFAR-10, ResNet-110 → ResNet-20"
    setting: Setting
    expect: str = "higher"  # of ours − against: "higher", "lower" or "matches" (within ``margin``)
    comparisons: tuple[stats.Comparison, ...] = ()
    preconditions: tuple[Precondition, ...] = ()
    basis: str = "test"  # "derivation" or "measurement": decided by ``holds`` with ``note``, not by statistics
    holds: bool | None = None
    note: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if self.expect not in EXPECTS:
            raise ValueError(f"claim {self.id}: expect={self.expect!r}; choose one of {', '.join(EXPECTS)}")
        if self.basis not in BASES:
            raise ValueError(f"claim {self.id}: basis={self.basis!r}; choose one of {', '.join(BASES)}")
        if self.basis == "test" and not self.comparisons:
            raise ValueError(f"claim {self.id}: a tested claim needs at least one comparison")
        if self.expect == "matches" and any(c.margin is None for c in self.comparisons):
            raise ValueError(f"claim {self.id}: a claim of 'matches' states its margin up front (compare(margin=))")

    @property
    def failed_preconditions(self) -> list[Precondition]:
        return [condition for condition in self.preconditions if not condition.holds]

    @property
    def verdict(self) -> str:
        return _judge(self)[0]

    @property
    def reason(self) -> str:
        return _judge(self)[1]


def _adjusted(comparison: stats.Comparison, name: str) -> float:
    """The Holm-adjusted p when the claim went through ``adjust``, else the raw p."""
    value = getattr(comparison, name + "_holm")
    return getattr(comparison, name) if value is None else value


def comparison_verdict(comparison: stats.Comparison, expect: str, alpha: float = stats.ALPHA) -> str:
    """One comparison's verdict (before preconditions): supported, contradicted, equivalent or inconclusive."""
    if not comparison.testable:
        return "inconclusive"
    if expect == "matches":
        if _adjusted(comparison, "p_equivalence") < alpha:
            return "equivalent"
        return "contradicted" if _adjusted(comparison, "p_beyond") < alpha else "inconclusive"
    if not _adjusted(comparison, "p") < alpha:
        return "inconclusive"
    return "supported" if (comparison.effect > 0) == (expect == "higher") else "contradicted"


def _judge(claim: Claim) -> tuple[str, str]:
    if claim.failed_preconditions:
        return "untestable here", "precondition failed: " + "; ".join(
            f"{c.statement} ({c.evidence})" for c in claim.failed_preconditions)
    if claim.basis != "test":
        verdict = {True: "supported", False: "contradicted", None: "inconclusive"}[claim.holds]
        return verdict, f"{claim.basis}: {claim.note}"
    verdicts = [comparison_verdict(c, claim.expect) for c in claim.comparisons]
    if "contradicted" in verdicts:
        against = [c.label for c, v in zip(claim.comparisons, verdicts) if v == "contradicted"]
        side = "beyond the margin" if claim.expect == "matches" else "in the opposite direction"
        return "contradicted", f"significant {side} after Holm's correction: {', '.join(against)}"
    goal = "equivalent" if claim.expect == "matches" else "supported"
    if all(v == goal for v in verdicts):
        what = (f"within ±{claim.comparisons[0].margin:g} {claim.comparisons[0].unit} (TOST)"
                if goal == "equivalent" else "significant in the claimed direction")
        return goal, f"every comparison {what} after Holm's correction"
    untested = [c.label for c in claim.comparisons if not c.testable]
    if untested:
        return "inconclusive", f"no spread to test (one seed, or identical values): {', '.join(untested)}"
    detectable = ", ".join(f"{c.label} {c.mde:.2f} {c.unit}" for c in claim.comparisons)
    if claim.expect == "matches":
        return "inconclusive", (f"neither within ±{claim.comparisons[0].margin:g} {claim.comparisons[0].unit} nor "
                                f"beyond it significantly; smallest detectable differences (MDE): {detectable}")
    return "inconclusive", (f"not significant after Holm's correction; the smallest effects the tests could detect "
                            f"(MDE, 80 % power): {detectable}")


def _family(claims: list[Claim]) -> list[tuple[int, int, str]]:
    """(claim, comparison, p name) of every p-value a tested claim's verdict would rest on, whatever its
    preconditions gave: the family is fixed by what the ledger tests, not by what the records show."""
    members = []
    for i, claim in enumerate(claims):
        if claim.basis != "test":
            continue
        names = ("p_equivalence", "p_beyond") if claim.expect == "matches" else ("p",)
        for j, comparison in enumerate(claim.comparisons):
            members += [(i, j, name) for name in names if comparison.testable]
    return members


def family_size(claims: list[Claim]) -> int:
    """How many p-values Holm's correction runs over (the smallest must be below 0.05 divided by this)."""
    return len(_family(claims))


def adjust(claims: list[Claim]) -> list[Claim]:
    """The claims with Holm-adjusted p-values over the family of all their deciding comparisons (see ``_family``)."""
    members = _family(claims)
    adjusted = stats.holm([getattr(claims[i].comparisons[j], name) for i, j, name in members])
    updates: dict[tuple[int, int], dict] = {}
    for (i, j, name), value in zip(members, adjusted):
        updates.setdefault((i, j), {})[name + "_holm"] = float(value)
    out = []
    for i, claim in enumerate(claims):
        comparisons = tuple(stats.with_holm(c, **updates.get((i, j), {})) for j, c in enumerate(claim.comparisons))
        out.append(replace(claim, comparisons=comparisons))
    return out


def metric_values(records: list[dict], metric: str = "test_acc", scale: float = 100.0) -> np.ndarray:
    """Per-run values of a metric (diverged or missing: NaN), times ``scale`` (accuracy in points by default)."""
    values = [record["metrics"].get(metric) for record in records]
    return np.array([np.nan if v is None else v for v in values], dtype=float) * scale


def paired_by_design(ours: list[dict], against: list[dict]) -> bool:
    """True when run s of each side shares its seed and so its initialisation (the same model) and the generator that
    shuffles, augments and draws: the same seeds, one run each, on the same dataset, model, subset, batch size and
    augmentation; only the method, its parameters or teacher differ. The data order itself can still part once a
    method draws from that generator (noise, a teacher picked per row): the pairing is by seed, which is what makes
    the pairs independent across seeds and the per-seed differences the unit of the test."""
    seeds = [[record["spec"]["seed"] for record in group] for group in (ours, against)]
    if sorted(seeds[0]) != sorted(seeds[1]) or len(set(seeds[0])) != len(seeds[0]) or len(seeds[0]) < 2:
        return False
    by_seed = {record["spec"]["seed"]: record["spec"] for record in against}
    return all(all(record["spec"].get(f) == by_seed[record["spec"]["seed"]].get(f) for f in _PAIRED_FIELDS)
               for record in ours)


def compare(label: str, ours: list[dict], against: list[dict], metric: str = "test_acc",
            against_metric: str | None = None, margin: float | None = None, scale: float = 100.0,
            unit: str = "points") -> stats.Comparison:
    """Two groups of run records compared on ``metric`` (default: test accuracy in points); paired when the design
    pairs them (``paired_by_design``), Welch's t otherwise. ``against_metric`` reads another metric of the second
    group (one exit against a whole network)."""
    a = metric_values(ours, metric, scale)
    b = metric_values(against, against_metric or metric, scale)
    if paired_by_design(ours, against):
        order = [record["spec"]["seed"] for record in ours]
        by_seed = dict(zip([record["spec"]["seed"] for record in against], b))
        return stats.paired(a, [by_seed[seed] for seed in order], label, margin, unit)
    return stats.welch(a, b, label, margin, unit)


TIME_METRIC = "train_step_s"  # the metric of ``timed`` records


def training_seconds(record: dict) -> float | None:
    """Seconds a run spent in its training steps (the per-epoch ``train_time_s``; evaluation is left out, since a
    joint run evaluates two networks); None for a run that diverged."""
    if record["metrics"].get("diverged") or not record.get("history"):
        return None
    return float(sum(row["train_time_s"] for row in record["history"]))


def timed(record: dict, seconds: float | None = None, model: str | None = None) -> dict:
    """A record reduced to its spec and one time metric (``TIME_METRIC``: its own training seconds unless
    ``seconds`` is given, e.g. a sum of several runs), for ``compare(..., metric=TIME_METRIC)``. ``model`` renames
    the group, so that a sum of runs is compared as an independent group (Welch): run times share no seed effect."""
    spec = dict(record["spec"], **({"model": model} if model else {}))
    value = training_seconds(record) if seconds is None else seconds
    return {"id": record.get("id"), "spec": spec, "metrics": {TIME_METRIC: value}}


def one_run_against(label: str, value: float, records: list[dict], metric: str = "test_acc") -> stats.Comparison:
    """One run's value (a single teacher, in points) minus a group of runs: the one-sample t test over the group's
    seeds with its sign turned, so the effect reads value − group, as a control "the teacher beats ..." needs."""
    return stats.against_value(-metric_values(records, metric), -value, label)


def control(statement: str, comparison: stats.Comparison) -> Precondition:
    """A positive control: holds when the comparison's 95 % interval lies wholly above zero."""
    holds = comparison.testable and comparison.ci[0] > 0
    return Precondition(statement, bool(holds), f"{comparison.label}: {comparison.text()}")


def control_study(arms: dict[str, dict[str, list[dict]]], metric: str = "val_acc",
                  against: str = "student alone") -> dict[str, dict[str, stats.Comparison]]:
    """A control study: per arm (one change to a chapter's setting), each row's records minus ``against``'s on
    ``metric`` (validation accuracy by default, so that a diagnosis never reads the test set)."""
    return {name: {row: compare(f"{row} − {against}", records, arm[against], metric)
                   for row, records in arm.items() if row != against} for name, arm in arms.items()}


def passing(study: dict[str, dict[str, stats.Comparison]], row: str) -> list[str]:
    """The arms of a ``control_study`` where ``row`` passes the control (interval wholly above zero, unadjusted,
    as for preconditions)."""
    return [name for name, found in study.items() if row in found and control(row, found[row]).holds]


def control_table(arms: dict[str, dict[str, list[dict]]], metric: str = "val_acc",
                  against: str = "student alone") -> pd.DataFrame:
    """``control_study`` as a table: per arm, ``against``'s mean ± std (%) and each row's effect [95 % CI], marked
    ✓ where the control holds; "–" where an arm has no such row."""
    study = control_study(arms, metric, against)
    columns = list(dict.fromkeys(row for found in study.values() for row in found))
    lines = []
    for name, arm in arms.items():
        base = metric_values(arm[against], metric)
        line = {"arm": name, f"{against} (%)": f"{np.nanmean(base):.2f} ± {np.nanstd(base, ddof=1):.2f}"
                if np.isfinite(base).sum() > 1 else "–"}
        for row in columns:
            found = study[name].get(row)
            line[f"{row} − {against}"] = "–" if found is None else (
                found.text() + (" ✓" if control(row, found).holds else ""))
        lines.append(line)
    return pd.DataFrame(lines).set_index("arm")


def controls_on_test(arm: dict[str, list[dict]], statements: dict[str, str],
                     against: str = "student alone") -> pd.DataFrame:
    """The rows of one control-study arm as positive controls on the test set (``control``), one line per row of
    ``statements`` (row → the control's statement): what a page reports once validation has said which to trust."""
    lines = []
    for row, statement in statements.items():
        comparison = compare(f"{row} − {against}", arm[row], arm[against])
        lines.append({"control (test accuracy)": statement,
                      "holds": "yes" if control(statement, comparison).holds else "no",
                      "effect [95 % CI]": comparison.text()})
    return pd.DataFrame(lines)


def format_p(value: float | None) -> str:
    """A p-value for a table: three decimals, "<0.001" below that, "–" where there is no test."""
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.3f}" if value >= 0.001 else "<0.001"


def table(claims: list[Claim]) -> pd.DataFrame:
    """One row per comparison (a claim with none has one row): what the ledger and the chapter pages show."""
    rows = []
    for claim in claims:
        verdict, reason = _judge(claim)
        base = {"claim": claim.id, "statement": claim.statement, "dataset": claim.setting.dataset,
                "model": claim.setting.model, "budget": claim.setting.budget,
                "budget share": "–" if claim.setting.budget_share is None else f"{claim.setting.budget_share:.1%}"}
        for comparison in claim.comparisons or (None,):
            if comparison is None:
                rows.append({**base, "comparison": claim.basis, "test": "–", "effect [95 % CI]": "–", "p": "–",
                             "p (Holm)": "–", "MDE": "–", "verdict": verdict, "reason": reason})
                continue
            effect = comparison.text() + ("" if comparison.unit == "points" else f" {comparison.unit}")
            label, p, p_holm = comparison.label, format_p(comparison.p), format_p(comparison.p_holm)
            if claim.expect == "matches":  # TOST at 5 % is the 90 % interval inside ±margin
                low, high = comparison.interval(0.90)
                label += (f" (margin ±{comparison.margin:g}; 90 % CI [{low:+.2f}, {high:+.2f}])" if comparison.testable
                          else f" (margin ±{comparison.margin:g})")
                p = f"{format_p(comparison.p_equivalence)} equiv. / {format_p(comparison.p_beyond)} beyond"
                p_holm = f"{format_p(comparison.p_equivalence_holm)} / {format_p(comparison.p_beyond_holm)}"
            rows.append({**base, "comparison": label,
                         "test": comparison.test, "effect [95 % CI]": effect, "p": p, "p (Holm)": p_holm,
                         "MDE": "–" if not math.isfinite(comparison.mde) else f"{comparison.mde:.2f}",
                         "verdict": verdict, "reason": reason})
    return pd.DataFrame(rows, columns=["claim", "statement", "dataset", "model", "budget", "budget share",
                                       "comparison", "test", "effect [95 % CI]", "p", "p (Holm)", "MDE", "verdict",
                                       "reason"])


def counts(claims: list[Claim]) -> dict[str, int]:
    """How many claims (one per setting) reached each verdict, in the order of ``VERDICTS``."""
    verdicts = [claim.verdict for claim in claims]
    return {verdict: verdicts.count(verdict) for verdict in VERDICTS}


def forest_plot(claims: list[Claim], ax=None):
    """Every comparison in accuracy points with its 95 % interval, coloured by its claim's verdict."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    points = [(claim, c) for claim in claims for c in claim.comparisons if c.unit == "points"]
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 0.28 * len(points) + 1.2))
    for y, (claim, comparison) in enumerate(points):
        colour = COLOURS[claim.verdict]
        low, high = comparison.ci if comparison.testable else (comparison.effect, comparison.effect)
        ax.plot([low, high], [y, y], color=colour, lw=2)
        ax.plot([comparison.effect], [y], "o", color=colour, ms=4)
    ax.axvline(0, color="0.4", lw=0.8, ls="--")
    ax.set_xscale("symlog", linthresh=1.0)  # linear within ±1 point, logarithmic beyond: small and large effects
    ax.set_yticks(range(len(points)))
    labels = [f"{claim.id} · {comparison.label} · {claim.setting.dataset.split(' (')[0]}" for claim, comparison in points]
    # two settings that differ only in the model (e.g. two kinds of exit) get the model's last part, to tell them apart
    labels = [label + (f" · {claim.setting.model.split(', ')[-1]}" if labels.count(label) > 1 else "")
              for label, (claim, _) in zip(labels, points)]
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("effect, accuracy points (ours − comparison), 95 % CI; linear within ±1, logarithmic beyond")
    ax.legend(handles=[Line2D([], [], color=COLOURS[v], lw=2, label=v) for v in VERDICTS], fontsize=7,
              loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(VERDICTS), frameon=False)
    return ax
