"""The book's claims and their verdicts, defined once.

A claim is tested in one setting (dataset, model, budget). It declares, before its main runs, **one primary
comparison** (its first), the direction it expects, and the **smallest effect of interest** (SESOI) in the
comparison's unit with a one-line reason (for a claim of "matches", the SESOI is its equivalence margin). Further
comparisons are secondary: shown with their raw p, descriptive, never deciding. The verdict is one of five:

- **supported**: the primary comparison is significant in the claimed direction after the correction below;
- **contradicted**: it is significant in the opposite direction (for a claim of "matches": the difference is
  significantly larger than the margin);
- **equivalent**: only for claims of "matches": the difference lies within the margin (two one-sided tests, after
  the correction);
- **inconclusive**: none of these; the minimum detectable effect at the level that decided, and the power at the
  SESOI, say how large an effect the test could have seen;
- **untestable here**: a stated precondition failed (the teacher does not beat the student alone, KD does not beat
  the student on labels, the book's student is not smaller than its teacher, ...), so the comparison says nothing
  about the paper's claim in this setting. A setting that breaks a claim's premise leaves it untestable, never
  contradicted.

A row that sets our number beside a paper's number (``basis="paper number"``) is not a test of the paper's claim:
its outcome is only whether the paper's value lies inside our 95 % interval ("paper's value inside our CI" or
"outside"), and it is not in any family.

**The multiplicity family is the primary comparisons of one paper's claims** (``adjust``: Holm's step-down within
each chapter). Why per paper and Holm: a reader cites a paper's verdicts together ("Rocket Launching's C6 and C8
were supported"), so the error to bound is that of any false verdict among that paper's claims; the five papers are
separate questions, and a book-wide family would make each paper's verdicts depend on how many other papers the
book happens to hold. Holm, not Benjamini–Hochberg, because a verdict is cited one by one and must hold on its own
(family-wise error, not a false discovery rate), and Holm needs no assumption about how the claims' tests
correlate. Preconditions are positive controls, not claims: they are gates outside the family, holding when their
95 % interval lies wholly on the required side of zero. The family is fixed by the claims, not by their outcomes:
an untestable claim's primary stays in it, so a failed control cannot make the others easier to pass. Paired tests
wherever runs share seeds by design (``compare``). This protocol was fixed on 2026-12-07, after the first edition's
records were made: verdicts on those records are provisional until the runs it plans (``seed_plan``).

Nothing is ever supported by the absence of a difference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from kdlib import stats

VERDICTS = ("supported", "contradicted", "equivalent", "inconclusive", "untestable here")
PAPER_OUTCOMES = ("paper's value inside our CI", "paper's value outside our CI")  # rows of basis "paper number"
EXPECTS = ("higher", "lower", "matches")
BASES = ("test", "derivation", "measurement", "paper number")
COLOURS = {"supported": "#1b7837", "contradicted": "#b2182b", "equivalent": "#2166ac", "inconclusive": "#969696",
           "untestable here": "#e08214", PAPER_OUTCOMES[0]: "#5aae61", PAPER_OUTCOMES[1]: "#9970ab"}
# The SESOI of an accuracy comparison, by the dataset its setting names first: about 1.6 binomial standard errors
# of one run's accuracy on the 10,000 test images (MNIST near 98.5 %: 0.12 points; Fashion-MNIST near 90 %: 0.30),
# the smallest gain one evaluation could tell from the test set's own sampling noise.
ACCURACY_SESOI = {"MNIST": (0.2, "about 1.6 binomial standard errors of one run's accuracy on MNIST's 10,000 test "
                                 "images (0.12 points at 98.5 %)"),
                  "Fashion-MNIST": (0.5, "about 1.6 binomial standard errors of one run's accuracy on Fashion-MNIST's "
                                         "10,000 test images (0.30 points at 90 %)"),
                  "Fashion-MNIST pairs": (1.0, "about 1.6 binomial standard errors of one run's accuracy on the 5,000 "
                                               "test pairs of the 100-class Fashion-MNIST pairs (0.66 points at 67 %)")}
TIME_SESOI_SHARE = 0.1  # a saving of training time smaller than this share would not change a reader's choice
UNCAPPED = 1_000_000  # what "without the cap" searches up to
SEED_CAP = 20  # the most seeds a plan asks for; where it binds, the plan says so and what reaching 80 % would cost
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
    sesoi: float | None = None  # the primary comparison's smallest effect of interest (default: ``declared_sesoi``)
    sesoi_reason: str = ""

    def __post_init__(self):
        if self.expect not in EXPECTS:
            raise ValueError(f"claim {self.id}: expect={self.expect!r}; choose one of {', '.join(EXPECTS)}")
        if self.basis not in BASES:
            raise ValueError(f"claim {self.id}: basis={self.basis!r}; choose one of {', '.join(BASES)}")
        if self.basis == "test" and not self.comparisons:
            raise ValueError(f"claim {self.id}: a tested claim needs at least one comparison")
        if self.expect == "matches" and any(c.margin is None for c in self.comparisons):
            raise ValueError(f"claim {self.id}: a claim of 'matches' states its margin up front (compare(margin=))")
        if self.basis == "paper number" and len(self.comparisons) != 1:
            raise ValueError(f"claim {self.id}: a paper-number row holds one comparison (ours − the paper's value)")
        if self.sesoi is not None and not (math.isfinite(self.sesoi) and self.sesoi > 0):
            raise ValueError(f"claim {self.id}: the smallest effect of interest must be positive, got {self.sesoi!r}")

    @property
    def primary(self) -> stats.Comparison | None:
        """The one comparison the verdict rests on (the first); the others are secondary and descriptive."""
        return self.comparisons[0] if self.comparisons else None

    @property
    def declared_sesoi(self) -> tuple[float | None, str]:
        """The primary comparison's SESOI and its reason: the claim's own; else the margin of a claim of "matches";
        else, for an accuracy comparison, ``ACCURACY_SESOI`` of the setting's dataset; else none declared."""
        if self.sesoi is not None:
            return self.sesoi, self.sesoi_reason
        primary = self.primary
        if primary is None or self.basis != "test":
            return None, ""
        if self.expect == "matches":
            return primary.margin, "the claim's equivalence margin"
        dataset = self.setting.dataset.split(" (")[0]
        if primary.unit == "points" and dataset in ACCURACY_SESOI:
            return ACCURACY_SESOI[dataset]
        return None, ""

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


PAPER_OUTCOME_COLUMN = "paper's value in our 95 % CI"


def paper_outcome(comparison: stats.Comparison) -> str:
    """For ours − a paper's number (``stats.against_value``): whether the paper's value lies inside our 95 %
    interval ("yes" / "no"; "–" without an interval). Only that: a difference is not a refuted claim."""
    if not comparison.testable:
        return "–"
    return "yes" if comparison.ci[0] <= 0 <= comparison.ci[1] else "no"


def _paper_outcome(claim: Claim) -> tuple[str, str]:
    comparison = claim.primary
    outcome = paper_outcome(comparison)
    if outcome == "–":
        return "inconclusive", f"no interval (one seed, or identical values): {comparison.label}"
    inside = outcome == "yes"
    return (PAPER_OUTCOMES[0] if inside else PAPER_OUTCOMES[1],
            f"the paper's value {'lies inside' if inside else 'lies outside'} our 95 % interval: {comparison.label} "
            f"{comparison.text()} {comparison.unit}; a difference from a paper's number is not a refuted claim")


def _judge(claim: Claim) -> tuple[str, str]:
    if claim.basis == "paper number":
        return _paper_outcome(claim)
    if claim.failed_preconditions:
        return "untestable here", "precondition failed: " + "; ".join(
            f"{c.statement} ({c.evidence})" for c in claim.failed_preconditions)
    if claim.basis != "test":
        verdict = {True: "supported", False: "contradicted", None: "inconclusive"}[claim.holds]
        return verdict, f"{claim.basis}: {claim.note}"
    primary = claim.primary
    verdict = comparison_verdict(primary, claim.expect)
    corrected = "after Holm's correction within the paper's claims"
    if verdict == "contradicted":
        side = "beyond the margin" if claim.expect == "matches" else "in the opposite direction"
        return "contradicted", f"significant {side} {corrected}: {primary.label}"
    if verdict in ("supported", "equivalent"):
        what = (f"within ±{primary.margin:g} {primary.unit} (TOST)" if verdict == "equivalent"
                else "significant in the claimed direction")
        return verdict, f"{primary.label}: {what} {corrected}"
    if not primary.testable:
        return "inconclusive", f"no spread to test (one seed, or identical values): {primary.label}"
    sesoi, _ = claim.declared_sesoi
    power = primary.power_at_sesoi(sesoi)
    at = f"at its level {primary.deciding_level:.2g}"
    powered = "" if not math.isfinite(power) else f", power {power:.0%} at the SESOI of {sesoi:g} {primary.unit}"
    if claim.expect == "matches":
        return "inconclusive", (f"{primary.label}: neither within ±{primary.margin:g} {primary.unit} nor beyond it "
                                f"significantly {corrected}{powered}")
    return "inconclusive", (f"{primary.label}: not significant {corrected}; smallest effect detectable {at} "
                            f"(MDE, 80 % power) {primary.mde_adjusted:.2f} {primary.unit}{powered}")


def _family(claims: list[Claim]) -> list[tuple[int, str]]:
    """(claim, p name) of every p-value a tested claim's verdict rests on, its primary comparison's, whatever its
    preconditions gave: the family is fixed by what the ledger tests, not by what the records show. ``adjust``
    splits it by chapter (one paper's claims)."""
    members = []
    for i, claim in enumerate(claims):
        if claim.basis != "test" or not claim.primary.testable:
            continue
        names = ("p_equivalence", "p_beyond") if claim.expect == "matches" else ("p",)
        members += [(i, name) for name in names]
    return members


def family_size(claims: list[Claim], chapter: str | None = None) -> int:
    """How many p-values Holm's correction runs over in ``chapter``'s family (the smallest must be below 0.05
    divided by this); without a chapter, the largest family among the claims' chapters."""
    sizes: dict[str, int] = {}
    for i, _ in _family(claims):
        sizes[claims[i].chapter] = sizes.get(claims[i].chapter, 0) + 1
    return sizes.get(chapter, 0) if chapter is not None else max(sizes.values(), default=0)


def adjust(claims: list[Claim]) -> list[Claim]:
    """The claims with Holm-adjusted p-values and Holm levels for their primary comparisons, one family per chapter
    (see the module docstring); secondary comparisons keep their raw p only."""
    updates: dict[int, dict] = {}
    for chapter in dict.fromkeys(claim.chapter for claim in claims):
        members = [(i, name) for i, name in _family(claims) if claims[i].chapter == chapter]
        raw = [getattr(claims[i].primary, name) for i, name in members]
        for (i, name), value, level in zip(members, stats.holm(raw), stats.holm_levels(raw)):
            updates.setdefault(i, {})[name + "_holm"] = float(value)
            if name != "p_beyond":  # a claim of "matches" is decided by its equivalence test's level
                updates[i]["level"] = float(level)
    out = []
    for i, claim in enumerate(claims):
        comparisons = tuple(stats.with_holm(c, **(updates.get(i, {}) if j == 0 else {}))
                            for j, c in enumerate(claim.comparisons))
        out.append(replace(claim, comparisons=comparisons))
    return out


def check_adjusted(claims: list[Claim]) -> None:
    """Refuse claims whose family was never adjusted: a chapter's ``claims`` must end with ``adjust`` (its paper's
    family), or its verdicts would be read at the raw p."""
    for i, name in _family(claims):
        if getattr(claims[i].primary, name + "_holm") is None:
            raise ValueError(f"claim {claims[i].id} of chapter {claims[i].chapter!r} has no Holm-adjusted {name}: "
                             f"end the chapter's claims() with kdlib.claims.adjust(...)")


def metric_values(records: list[dict], metric: str = "test_acc") -> np.ndarray:
    """Per-run values of a metric as the records hold them (fractions for accuracies); diverged or missing: NaN."""
    values = [record["metrics"].get(metric) for record in records]
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def points(records: list[dict], metric: str = "test_acc") -> np.ndarray:
    """Per-run accuracies in points (records hold fractions; tables and tests of claims speak points)."""
    return metric_values(records, metric) * 100.0


def mean_training_seconds(records: list[dict]) -> float:
    """Mean over runs of the seconds spent in training steps (``training_seconds``); runs that diverged left out."""
    times = [training_seconds(record) for record in records]
    return float(np.nanmean([np.nan if t is None else t for t in times]))


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
    a = metric_values(ours, metric) * scale
    b = metric_values(against, against_metric or metric) * scale
    if paired_by_design(ours, against):
        order = [record["spec"]["seed"] for record in ours]
        by_seed = dict(zip([record["spec"]["seed"] for record in against], b))
        found = stats.paired(a, [by_seed[seed] for seed in order], label, margin, unit)
    else:
        found = stats.welch(a, b, label, margin, unit)
    return replace(found, seed_cost_s=seed_cost(ours, against))


def seed_cost(*groups: list[dict]) -> float | None:
    """Seconds one more seed of a comparison takes, from the records' wall times: a run of each side, plus (under
    the protocol of one teacher per student seed) each side's teacher once. None where a record gives no time."""
    from kdlib.runs import load_record
    from kdlib.spec import RunSpec

    seconds, teachers = 0.0, {}
    for group in groups:
        times = [record.get("provenance", {}).get("wall_time_s") for record in group]
        if not group or None in times:
            return None
        seconds += float(np.mean(times))
        teacher = group[0].get("spec", {}).get("teacher")
        if teacher:
            teachers[RunSpec.from_dict(teacher).id] = None
    for teacher_id in teachers:
        record = load_record(teacher_id)
        seconds += record["provenance"]["wall_time_s"] if record else 0.0
    return seconds


TIME_METRIC = "train_step_s"  # the metric of ``timed`` records


def time_sesoi(against: list[dict]) -> tuple[float | None, str]:
    """The SESOI of a training-time claim, in minutes: ``TIME_SESOI_SHARE`` of the mean time of the procedure it
    is said to beat (``timed`` records)."""
    times = [record["metrics"][TIME_METRIC] for record in against if record["metrics"].get(TIME_METRIC)]
    if not times:
        return None, ""
    return (TIME_SESOI_SHARE * float(np.mean(times)) / 60,
            f"{TIME_SESOI_SHARE:.0%} of the time of the procedure it is said to beat: a smaller saving would not "
            f"change which one a reader runs")


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
    return stats.against_value(-points(records, metric), -value, label)


class GateFailed(RuntimeError):
    """A pilot gate did not pass: the runs that depend on it must not be trained (``kdlib.executors.run_stages``
    stops there)."""


@dataclass(frozen=True)
class Gate:
    """A go/no-go check written before the runs it guards, read on validation: the mean of ``better`` (e.g. the
    teacher) must beat the mean of ``baseline`` (the student alone) by at least ``margin`` points. Fixed in code
    before its records exist; a pilot's 2 seeds give a point estimate, so the gate reads the means, not a test."""

    name: str  # what must hold, e.g. "the teacher beats the student alone"
    margin: float  # points
    metric: str = "val_acc"

    def difference(self, better: list[dict], baseline: list[dict]) -> float:
        """Mean of ``better`` minus mean of ``baseline`` in points, whether the gate passes or not (NaN: no value)."""
        if not better or not baseline:
            return math.nan
        return float(np.nanmean(points(better, self.metric))) - float(np.nanmean(points(baseline, self.metric)))

    def check(self, better: list[dict], baseline: list[dict]) -> float:
        """The difference in points; raises ``GateFailed`` naming the gate, both accuracies and the margin."""
        if not better or not baseline:
            raise GateFailed(f"gate '{self.name}' has no records to read; train its pilot runs first")
        ours = float(np.nanmean(points(better, self.metric)))
        theirs = float(np.nanmean(points(baseline, self.metric)))
        if not (math.isfinite(ours) and math.isfinite(theirs)) or ours - theirs < self.margin:
            raise GateFailed(f"gate '{self.name}' failed on {self.metric}: {ours:.2f} against {theirs:.2f}, a "
                             f"difference of {ours - theirs:+.2f} points where at least {self.margin:+.2f} was "
                             f"required; the runs that depend on it were not trained (change the testbed, on "
                             f"validation, before judging claims on it)")
        return ours - theirs


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
        base = points(arm[against], metric)
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


def _fixed(value: float, digits: int = 2) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def table(claims: list[Claim]) -> pd.DataFrame:
    """One row per comparison (a claim with none has one row): what the ledger and the chapter pages show. The
    primary comparison carries the Holm-adjusted p, the level it was decided at, the MDE at that level, the SESOI and
    the power to find it; a secondary one its raw p and the MDE at 5 %, as description."""
    rows = []
    for claim in claims:
        verdict, reason = _judge(claim)
        sesoi, sesoi_reason = claim.declared_sesoi
        base = {"claim": claim.id, "statement": claim.statement, "dataset": claim.setting.dataset,
                "model": claim.setting.model, "budget": claim.setting.budget,
                "budget share": "–" if claim.setting.budget_share is None else f"{claim.setting.budget_share:.1%}"}
        for j, comparison in enumerate(claim.comparisons or (None,)):
            if comparison is None:
                rows.append({**base, "role": claim.basis, "comparison": claim.basis, "test": "–",
                             "effect [95 % CI]": "–", "p": "–", "p (Holm)": "–", "level": "–", "MDE": "–",
                             "SESOI": "–", "power at SESOI": "–", "verdict": verdict, "reason": reason})
                continue
            primary = j == 0 and claim.basis == "test"
            effect = comparison.text() + ("" if comparison.unit == "points" else f" {comparison.unit}")
            label, p, p_holm = comparison.label, format_p(comparison.p), format_p(comparison.p_holm)
            if claim.expect == "matches":  # TOST at 5 % is the 90 % interval inside ±margin
                low, high = comparison.interval(0.90)
                label += (f" (margin ±{comparison.margin:g}; 90 % CI [{low:+.2f}, {high:+.2f}])" if comparison.testable
                          else f" (margin ±{comparison.margin:g})")
                p = f"{format_p(comparison.p_equivalence)} equiv. / {format_p(comparison.p_beyond)} beyond"
                p_holm = f"{format_p(comparison.p_equivalence_holm)} / {format_p(comparison.p_beyond_holm)}"
            role = ("paper number" if claim.basis == "paper number" else "primary" if primary else "secondary")
            rows.append({**base, "role": role, "comparison": label, "test": comparison.test,
                         "effect [95 % CI]": effect, "p": p, "p (Holm)": p_holm if primary else "–",
                         "level": f"{comparison.deciding_level:.2g}" if primary else "–",
                         "MDE": _fixed(comparison.mde_adjusted if primary else comparison.mde),
                         "SESOI": f"{sesoi:g}" if primary and sesoi is not None else "–",
                         "power at SESOI": (f"{comparison.power_at_sesoi(sesoi):.0%}"
                                            if primary and math.isfinite(comparison.power_at_sesoi(sesoi)) else "–"),
                         "verdict": verdict, "reason": reason})
    return pd.DataFrame(rows, columns=["claim", "statement", "dataset", "model", "budget", "budget share", "role",
                                       "comparison", "test", "effect [95 % CI]", "p", "p (Holm)", "level", "MDE",
                                       "SESOI", "power at SESOI", "verdict", "reason"])


def counts(claims: list[Claim]) -> dict[str, int]:
    """How many claims (one per setting) reached each verdict, in the order of ``VERDICTS``, then the rows that set
    our number beside a paper's (``PAPER_OUTCOMES``)."""
    verdicts = [claim.verdict for claim in claims]
    return {verdict: verdicts.count(verdict) for verdict in VERDICTS + PAPER_OUTCOMES}


def seed_plan(claims: list[Claim], target: float = stats.POWER, cap: int = SEED_CAP) -> pd.DataFrame:
    """Per tested claim-setting: its primary comparison, SESOI, the spread its records (the pilot) show, the seeds
    that give ``target`` power at the SESOI at alpha / m (m: its paper's family; the strictest Holm step, so the
    plan holds whatever the other p-values turn out to be), the power its current seeds give there, and the CPU time
    the missing seeds imply (``seed_cost``). Where the cap binds, the row says what the cap reaches."""
    rows = []
    for claim in claims:
        if claim.basis != "test":
            continue
        primary, (sesoi, reason) = claim.primary, claim.declared_sesoi
        m = max(family_size(claims, claim.chapter), 1)
        alpha = stats.ALPHA / m
        sd = primary.sd()
        test = "paired" if primary.test == "paired" else "welch"
        row = {"claim": claim.id, "dataset": claim.setting.dataset, "model": claim.setting.model,
               "primary": primary.label, "unit": primary.unit, "SESOI": sesoi, "SESOI reason": reason,
               "family": m, "level": alpha, "seeds now": min(primary.n) if primary.n else 0, "pilot sd": sd,
               "power now": math.nan, "seeds needed": None, "power planned": math.nan, "cap binds": False,
               "seeds without the cap": None, "CPU hours to add": math.nan, "CPU hours without the cap": math.nan}
        if sesoi is not None and math.isfinite(sd) and sd > 0:
            equivalence = claim.expect == "matches"
            found = stats.seeds_for_power(sesoi, sd, alpha, target, test, cap, equivalence)
            now = row["seeds now"]
            free = stats.seeds_for_power(sesoi, sd, alpha, target, test, UNCAPPED, equivalence)
            row.update({"power now": stats.planned_power(sesoi, sd, now, alpha, test, equivalence),
                        "seeds needed": found.seeds, "power planned": found.power, "cap binds": found.capped,
                        "seeds without the cap": None if free.capped else free.seeds})
            if primary.seed_cost_s is not None:
                row["CPU hours to add"] = max(found.seeds - now, 0) * primary.seed_cost_s / 3600
                if not free.capped:
                    row["CPU hours without the cap"] = max(free.seeds - now, 0) * primary.seed_cost_s / 3600
        rows.append(row)
    return pd.DataFrame(rows)


DECIDED = ("supported", "contradicted", "equivalent")


def _forest_label(claim: Claim, others: list[Claim]) -> str:
    """"C6 · rocket (b) − light alone · Fashion-MNIST", with the model's last part where two settings differ only
    in the model (two kinds of exit)."""
    label = f"{claim.id} · {claim.primary.label} · {claim.setting.dataset.split(' (')[0]}"
    twins = [other for other in others if other.id == claim.id and other.primary.label == claim.primary.label
             and other.setting.dataset == claim.setting.dataset]
    return label + (f" · {claim.setting.model.split(', ')[-1]}" if len(twins) > 1 else "")


def forest_plot(claims: list[Claim]):
    """Every tested claim's primary comparison in accuracy points, one panel per paper on a linear axis of its own:
    the effect with its 95 % interval and the ±SESOI band around zero. A decided verdict (supported, contradicted,
    equivalent) is drawn in its colour with a filled marker; an undecided one (inconclusive, untestable here) in its
    colour, hollow and fainter, so the eye finds what was decided. Secondary comparisons decide nothing and stay in
    the table; so do effects in other units (minutes, nats). Returns the figure."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    points = [claim for claim in claims if claim.basis == "test" and claim.primary.unit == "points"]
    papers = list(dict.fromkeys(claim.chapter for claim in points))
    heights = [len([c for c in points if c.chapter == paper]) + 1.2 for paper in papers]
    figure, axes = plt.subplots(len(papers), 1, figsize=(10, 0.32 * sum(heights) + 1.2), squeeze=False,
                                gridspec_kw={"height_ratios": heights}, layout="constrained")
    for ax, paper in zip(axes[:, 0], papers):
        rows = [claim for claim in points if claim.chapter == paper]
        for y, claim in enumerate(rows):
            comparison, colour = claim.primary, COLOURS[claim.verdict]
            decided = claim.verdict in DECIDED
            low, high = comparison.ci if comparison.testable else (comparison.effect, comparison.effect)
            sesoi, _ = claim.declared_sesoi
            if sesoi:
                ax.fill_betweenx([y - 0.35, y + 0.35], -sesoi, sesoi, color="0.9", lw=0, zorder=0)
            ax.plot([low, high], [y, y], color=colour, lw=2.4 if decided else 1.4, alpha=1.0 if decided else 0.6)
            ax.plot([comparison.effect], [y], "o", ms=6, color=colour, markerfacecolor=colour if decided else "white",
                    markeredgewidth=1.4)
        ax.axvline(0, color="0.4", lw=0.8, ls="--")
        ax.set_yticks(range(len(rows)), [_forest_label(claim, rows) for claim in rows], fontsize=8)
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_title(paper.replace("_", " "), fontsize=9, loc="left")
        ax.tick_params(axis="x", labelsize=8)
    axes[-1, 0].set_xlabel("ours − comparison, accuracy points, 95 % CI (grey: ±SESOI)", fontsize=8)
    figure.legend(handles=[Line2D([], [], color=COLOURS[v], lw=2, marker="o",
                                  markerfacecolor=COLOURS[v] if v in DECIDED else "white", label=v)
                           for v in VERDICTS], fontsize=8, loc="outside upper center", ncol=len(VERDICTS),
                  frameon=False)
    return figure


# --- the answer first: one row per paper claim, for the landing page ---------------------------------------------

def short_reason(claim: Claim) -> str:
    """Why a claim-setting got its verdict, in about ten words (the full reason is on its chapter's page)."""
    verdict = claim.verdict
    if claim.basis == "paper number":  # not a verdict: ours beside the paper's number
        return f"ours − paper {claim.primary.text()} {claim.primary.unit}"
    if verdict == "untestable here":
        failed = claim.failed_preconditions[0]
        more = f" (+{len(claim.failed_preconditions) - 1} more)" if len(claim.failed_preconditions) > 1 else ""
        return f"not met: {failed.statement}{more}"
    if claim.basis != "test":
        return {"derivation": "a derivation", "measurement": "a count"}.get(claim.basis, claim.basis) + \
            {"supported": " that holds", "contradicted": " that fails", "inconclusive": " that cannot decide it"}[verdict]
    primary = claim.primary
    if verdict in DECIDED and claim.expect == "matches":  # decided by two one-sided tests, or by the test beyond
        equivalent = verdict == "equivalent"
        p = primary.p_equivalence_holm if equivalent else primary.p_beyond_holm
        side = "within" if equivalent else "beyond"
        return f"{primary.text()} {primary.unit}, {side} ±{primary.margin:g}: Holm p {format_p(p)}"
    if verdict in DECIDED:
        return f"{primary.text()} {primary.unit}, Holm p {format_p(primary.p_holm)}"
    sesoi, _ = claim.declared_sesoi
    power = primary.power_at_sesoi(sesoi)
    return (f"{primary.text()} {primary.unit}; power {power:.0%} at the SESOI" if math.isfinite(power)
            else f"{primary.text()} {primary.unit}")


def answers(claims: list[Claim], reference: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per paper claim as the book tests it, the answer first: the paper, the claim in the paper's words and
    its number (from ``reference``, kdlib/reference/claims.csv, each with its source), the statement tested, then
    ours: each setting (dataset, model and share of the paper's budget), its verdict and a short reason. Rows that
    only set our number beside a paper's (``basis="paper number"``) are not claims and are left out."""
    reference = reference.set_index("claim") if reference is not None else pd.DataFrame()
    rows = []
    tested = [claim for claim in claims if claim.basis != "paper number"]
    for claim_id, statement in dict.fromkeys((claim.id, claim.statement) for claim in tested):
        found = [claim for claim in tested if (claim.id, claim.statement) == (claim_id, statement)]
        known = claim_id in reference.index

        def ours(claim: Claim) -> str:
            share = "" if claim.setting.budget_share is None else f", {claim.setting.budget_share:.1%} of its budget"
            return f"{claim.setting.dataset}, {claim.setting.model}{share}"

        words = str(reference.loc[claim_id, "words"]) if known else "–"
        words = words if words.startswith("paraphrase: ") or words == "–" else f"“{words}”"
        rows.append({
            "claim, as tested here": f"**{claim_id}** {statement}",
            "the paper": f"{reference.loc[claim_id, 'paper'] if known else found[0].chapter}: {words}",
            "the paper's number": reference.loc[claim_id, "paper_number"] if known else "–",
            "ours: setting → verdict": "; ".join(f"{ours(claim)} → **{claim.verdict}**" for claim in found),
            "why": "; ".join(short_reason(claim) for claim in found),
            "source": reference.loc[claim_id, "source"] if known else "–"})
    return pd.DataFrame(rows)


def answers_markdown(table: pd.DataFrame) -> str:
    """``answers`` as a MyST pipe table (the landing page includes it): each claim's settings on their own lines,
    and the source of each paper's number as a footnote, once per claim."""
    def cell(value) -> str:
        return str(value).replace("|", "\\|").replace("; ", "<br>")

    shown = [column for column in table.columns if column != "source"]
    lines = ["| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
    notes: dict[str, str] = {}
    for row in table.to_dict("records"):
        claim_id = row["claim, as tested here"].split("**")[1]
        if claim_id not in notes:
            notes[claim_id] = str(row["source"])
            row["the paper's number"] = str(row["the paper's number"]) + f" [^source-{claim_id}]"
        lines.append("| " + " | ".join(cell(row[column]) for column in shown) + " |")
    lines += [""] + [f"[^source-{claim_id}]: {source}" for claim_id, source in notes.items()]
    return "\n".join(lines) + "\n"


def paper_claims() -> pd.DataFrame | None:
    """The papers' own words and numbers for each claim, with sources (kdlib/reference/claims.csv); None if absent."""
    from importlib import resources

    path = resources.files("kdlib.reference").joinpath("claims.csv")
    if not path.is_file():
        return None
    with path.open() as handle:
        return pd.read_csv(handle)


def write_answers(claims: list[Claim], folder=".") -> None:
    """The landing page's answer table (``answers.md``) and figure (``answers.svg``, the forest plot), written into
    the executed book's folder by the synthesis page, where the ledger is computed; book/intro.md includes both."""
    from pathlib import Path

    import matplotlib.pyplot as plt

    folder = Path(folder)
    (folder / "answers.md").write_text(answers_markdown(answers(claims, paper_claims())))
    figure = forest_plot(claims)
    figure.savefig(folder / "answers.svg")
    plt.close(figure)


def compact_table(claims: list[Claim]) -> pd.DataFrame:
    """A chapter's claims at a glance, one row per claim-setting: its primary comparison, the effect with its 95 %
    interval, the verdict and a short reason. The full rows (``table``: every comparison, test, p, adjusted p,
    level, MDE, SESOI and power) go in a collapsed block and a CSV."""
    rows = []
    for claim in claims:
        primary = claim.primary
        rows.append({"claim": claim.id, "setting": claim.setting.dataset.split(" (")[0] +
                     (f", {claim.setting.model.split(', ')[-1]}" if "exits" in claim.setting.model else ""),
                     "statement": claim.statement,
                     "primary comparison": primary.label if primary is not None else claim.basis,
                     "effect [95 % CI]": "–" if primary is None else
                     primary.text() + ("" if primary.unit == "points" else f" {primary.unit}"),
                     "verdict": claim.verdict, "why": short_reason(claim)})
    return pd.DataFrame(rows)
