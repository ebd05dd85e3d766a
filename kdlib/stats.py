"""The book's statistics: comparisons of per-seed values, their power, equivalence and Holm's correction.

Pure functions of arrays of per-seed values (diverged runs as NaN, left out and counted). Every verdict in the book
is computed from these (through ``kdlib.claims``), so a reader can check one page of code instead of seven notebooks.

- Independent groups (different models, recipes or seeds) are compared with Welch's t, which does not assume equal
  variances: seeds of two methods usually spread differently.
- Seed-matched groups (run s of both sides starts from the same initialisation and shuffles the data with the same
  generator: same dataset, model and seeds, only the method or its teacher differs) are compared with the paired t
  test on the per-seed differences, which removes the seed's own effect from the noise.

With three seeds a side these tests have 2–4 degrees of freedom: the 95 % interval is wide, and the minimum
detectable effect says how wide, so a null result is never read as "no difference".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import optimize
from scipy import stats as _dist

ALPHA = 0.05
POWER = 0.8


@dataclass(frozen=True)
class Comparison:
    """Mean of ``ours`` minus mean of ``against`` (for a paired test: mean of the per-seed differences)."""

    label: str
    test: str  # "welch" or "paired"
    effect: float
    ci: tuple[float, float]  # 95 %, two-sided
    se: float
    df: float
    p: float  # two-sided, H0: effect = 0
    mde: float  # the smallest |effect| this test finds with 80 % power at two-sided 5 %
    n: tuple[int, int]
    excluded: int = 0  # values left out (NaN: diverged runs)
    unit: str = "points"
    margin: float | None = None  # equivalence margin, for claims of "matches"
    p_equivalence: float | None = None  # TOST, H0: |effect| >= margin
    p_beyond: float | None = None  # one-sided, H0: |effect| <= margin, in the observed direction
    p_holm: float | None = None  # filled by ``kdlib.claims.adjust`` for a primary comparison, within its paper
    p_equivalence_holm: float | None = None
    p_beyond_holm: float | None = None
    level: float | None = None  # the level its adjusted verdict was decided at (Holm: alpha / (m − rank))
    seed_cost_s: float | None = None  # seconds one more seed of both sides takes (``kdlib.claims.compare``)

    @property
    def testable(self) -> bool:
        """False when a side has fewer than two values or the values do not vary: no spread, no test."""
        return math.isfinite(self.se) and self.se > 0

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        """The two-sided confidence interval at ``level`` (0.90 is the one TOST at 5 % reads against a margin)."""
        if not self.testable:
            return (math.nan, math.nan)
        half = float(_dist.t.ppf(0.5 + level / 2, self.df)) * self.se
        return (self.effect - half, self.effect + half)

    @property
    def deciding_level(self) -> float:
        """The level the verdict was decided at: Holm's for a primary comparison, else the unadjusted 5 %."""
        return ALPHA if self.level is None or not math.isfinite(self.level) else self.level

    @property
    def mde_adjusted(self) -> float:
        """The minimum detectable effect (80 % power) at ``deciding_level``."""
        return minimum_detectable_effect(self.se, self.df, self.deciding_level)

    def power_at_sesoi(self, sesoi: float | None) -> float:
        """This test's power to find ``sesoi`` at ``deciding_level``: for a margin (a claim of "matches"), that of
        two one-sided tests showing a zero difference within it."""
        if sesoi is None:
            return math.nan
        if self.margin is not None:
            return equivalence_power(self.margin, self.se, self.df, self.deciding_level)
        return power_at(sesoi, self.se, self.df, self.deciding_level)

    def sd(self) -> float:
        """The per-seed spread this comparison implies (of the paired differences, or of one side for Welch at
        equal spreads), for planning: ``se`` undone by the design's sample sizes."""
        if not self.testable:
            return math.nan
        if self.test == "welch" and all(self.n):
            return self.se / math.sqrt(1 / self.n[0] + 1 / self.n[1])
        return self.se * math.sqrt(self.n[0])

    def text(self, digits: int = 2, level: float = 0.95) -> str:
        """"+0.42 [−0.10, +0.94]": the effect and its interval (95 % unless ``level`` says otherwise)."""
        if not math.isfinite(self.effect):
            return "–"
        if not self.testable:
            return f"{self.effect:+.{digits}f} (no spread)"
        low, high = self.ci if level == 0.95 else self.interval(level)
        return f"{self.effect:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"


def _finite(values) -> tuple[np.ndarray, int]:
    values = np.asarray(values, dtype=float)
    keep = np.isfinite(values)
    return values[keep], int((~keep).sum())


def _two_sided_p(t: float, df: float) -> float:
    return float(2 * _dist.t.sf(abs(t), df))


def minimum_detectable_effect(se: float, df: float, alpha: float = ALPHA, power: float = POWER) -> float:
    """The true effect at which a two-sided t test of level ``alpha`` rejects with probability ``power``, given the
    test's standard error and degrees of freedom (exact, from the noncentral t distribution)."""
    if not (math.isfinite(se) and se > 0 and math.isfinite(df) and df > 0):
        return math.nan
    critical = _dist.t.ppf(1 - alpha / 2, df)
    upper = 3 * (critical + _dist.t.ppf(power, df)) * se
    return float(optimize.brentq(lambda delta: power_at(delta, se, df, alpha) - power, 0.0, upper,
                                 xtol=1e-10 * se))


def power_at(effect: float, se: float, df: float, alpha: float = ALPHA) -> float:
    """The chance that a two-sided t test of level ``alpha`` with standard error ``se`` and ``df`` degrees of freedom
    rejects when the true effect is ``effect`` (exact, from the noncentral t distribution)."""
    if not (math.isfinite(se) and se > 0 and math.isfinite(df) and df > 0):
        return math.nan
    critical = _dist.t.ppf(1 - alpha / 2, df)
    shift = abs(effect) / se  # the far tail underflows to NaN for large shifts in scipy: it is then zero
    far_tail = float(np.nan_to_num(_dist.nct.cdf(-critical, df, shift), nan=0.0))
    return float(_dist.nct.sf(critical, df, shift) + far_tail)


def equivalence_power(margin: float, se: float, df: float, alpha: float = ALPHA) -> float:
    """The chance that two one-sided tests of level ``alpha`` show equivalence within ±``margin`` when the true
    difference is zero (the usual t approximation: ``se`` treated as known within the t quantile)."""
    if not (math.isfinite(se) and se > 0 and math.isfinite(df) and df > 0):
        return math.nan
    critical = _dist.t.ppf(1 - alpha, df)
    return float(max(0.0, 2 * _dist.t.cdf(margin / se - critical, df) - 1))


def _design(sd: float, n: int, test: str) -> tuple[float, float]:
    """Standard error and degrees of freedom of a planned test with ``n`` seeds (pairs, or seeds a side)."""
    if test == "paired":
        return sd / math.sqrt(n), n - 1
    if test == "welch":  # equal spreads and sizes: Welch's df is then 2n − 2
        return sd * math.sqrt(2 / n), 2 * n - 2
    raise ValueError(f"power is planned for a 'paired' or 'welch' comparison, got {test!r}")


def power(effect: float, sd: float, n: int, alpha: float = ALPHA, test: str = "paired") -> float:
    """``power_at`` for a planned design: for ``paired``, ``n`` pairs and ``sd`` the spread of the per-seed
    differences; for ``welch``, ``n`` seeds a side of equal spread ``sd``."""
    if n < 2 or not (math.isfinite(sd) and sd > 0):
        return math.nan
    return power_at(effect, *_design(sd, n, test), alpha)


def planned_power(sesoi: float, sd: float, n: int, alpha: float = ALPHA, test: str = "paired",
                  equivalence: bool = False) -> float:
    """``power`` of a planned design with ``n`` seeds; with ``equivalence``, that of two one-sided tests showing a
    zero difference within ±``sesoi``."""
    if not equivalence:
        return power(sesoi, sd, n, alpha, test)
    if n < 2 or not (math.isfinite(sd) and sd > 0):
        return math.nan
    return equivalence_power(sesoi, *_design(sd, n, test), alpha)


@dataclass(frozen=True)
class SeedPlan:
    """How many seeds a comparison needs: ``seeds`` gives ``power`` ≥ the target at ``sesoi`` and level ``alpha``,
    unless ``capped`` (then ``power`` is what the cap gives)."""

    seeds: int
    power: float
    capped: bool
    sesoi: float
    sd: float
    alpha: float


def seeds_for_power(sesoi: float, sd: float, alpha: float = ALPHA, target: float = POWER, test: str = "paired",
                    cap: int = 20, equivalence: bool = False) -> SeedPlan:
    """The smallest seed count (per side; pairs for ``paired``) at which the test finds an effect of ``sesoi`` with
    probability ``target`` at level ``alpha`` (the level the multiplicity correction will apply), given the spread
    ``sd`` a pilot measured; with ``equivalence``, at which two one-sided tests show a zero difference to lie within
    ±``sesoi`` (the margin). At most ``cap`` seeds; the plan says when the cap binds."""
    if not (math.isfinite(sesoi) and sesoi > 0):
        raise ValueError(f"the smallest effect of interest must be a positive number, got {sesoi!r}")
    if not (math.isfinite(sd) and sd > 0):
        raise ValueError(f"a plan needs the pilot's spread (a positive sd), got {sd!r}: run at least 2 seeds")
    if cap < 2:
        raise ValueError(f"the seed cap must be at least 2, got {cap}")

    def enough(seeds: int) -> bool:
        return planned_power(sesoi, sd, seeds, alpha, test, equivalence) >= target

    if not enough(cap):
        return SeedPlan(cap, planned_power(sesoi, sd, cap, alpha, test, equivalence), True, sesoi, sd, alpha)
    low, high = 1, cap  # power grows with the seeds: the smallest count that is enough lies in (low, high]
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if enough(middle) else (middle, high)
    return SeedPlan(high, planned_power(sesoi, sd, high, alpha, test, equivalence), False, sesoi, sd, alpha)


def _comparison(label, test, effect, se, df, n, excluded, unit, margin) -> Comparison:
    if not (math.isfinite(se) and se > 0 and df > 0):
        return Comparison(label, test, effect, (math.nan, math.nan), se, df, math.nan, math.nan, n, excluded, unit,
                          margin, math.nan if margin is not None else None, math.nan if margin is not None else None)
    half = float(_dist.t.ppf(1 - ALPHA / 2, df)) * se
    p = _two_sided_p(effect / se, df)
    p_equivalence = p_beyond = None
    if margin is not None:
        if not margin > 0:
            raise ValueError(f"an equivalence margin must be positive, got {margin!r}")
        p_equivalence = float(max(_dist.t.sf((effect + margin) / se, df), _dist.t.cdf((effect - margin) / se, df)))
        p_beyond = float(_dist.t.sf((abs(effect) - margin) / se, df))
    return Comparison(label, test, effect, (effect - half, effect + half), se, df, p,
                      minimum_detectable_effect(se, df), n, excluded, unit, margin, p_equivalence, p_beyond)


def welch(ours, against, label: str = "", margin: float | None = None, unit: str = "points") -> Comparison:
    """Welch's t test of two independent groups (unequal variances; Welch–Satterthwaite degrees of freedom)."""
    a, dropped_a = _finite(ours)
    b, dropped_b = _finite(against)
    effect = float(a.mean() - b.mean()) if len(a) and len(b) else math.nan
    if len(a) < 2 or len(b) < 2:
        return _comparison(label, "welch", effect, math.nan, math.nan, (len(a), len(b)), dropped_a + dropped_b,
                           unit, margin)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1)) if se > 0 else math.nan
    return _comparison(label, "welch", effect, se, df, (len(a), len(b)), dropped_a + dropped_b, unit, margin)


def paired(ours, against, label: str = "", margin: float | None = None, unit: str = "points") -> Comparison:
    """The paired t test on per-seed differences ``ours[i] − against[i]``; a pair with a NaN side is left out."""
    a, b = np.asarray(ours, dtype=float), np.asarray(against, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"a paired comparison needs one value per seed on both sides, got {len(a)} and {len(b)}")
    differences, dropped = _finite(a - b)
    n = len(differences)
    effect = float(differences.mean()) if n else math.nan
    se = float(differences.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return _comparison(label, "paired", effect, se, n - 1 if n > 1 else math.nan, (n, n), dropped, unit, margin)


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (NaN entries are not tests and stay NaN).

    It controls the chance of any false rejection in the family at the chosen level, without assuming independence."""
    p = np.asarray(pvalues, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    m, running = len(order), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def with_holm(comparison: Comparison, p_holm=None, p_equivalence_holm=None, p_beyond_holm=None,
              level=None) -> Comparison:
    return replace(comparison, p_holm=p_holm, p_equivalence_holm=p_equivalence_holm, p_beyond_holm=p_beyond_holm,
                   level=level)


def holm_levels(pvalues, alpha: float = ALPHA) -> np.ndarray:
    """The level each p-value of a family is held to by Holm's step-down procedure: alpha / (m − rank), rank 0 for
    the smallest (NaN entries are not tests and stay NaN). A minimum detectable effect or a power at this level is
    the one that decides the adjusted verdict."""
    p = np.asarray(pvalues, dtype=float)
    levels = np.full(p.shape, np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    for rank, index in enumerate(order):
        levels[index] = alpha / (len(order) - rank)
    return levels


def against_value(values, reference: float, label: str = "", margin: float | None = None,
                  unit: str = "points", reference_se: float = 0.0) -> Comparison:
    """One-sample t test of per-seed values against a fixed number (a paper's published result): the effect is
    mean − reference, and its interval says whether the paper's number is consistent with ours.

    ``reference_se`` adds the reference's own sampling error (e.g. the binomial error of a published error count on
    a finite test set) to the standard error; the degrees of freedom then follow Welch–Satterthwaite with the
    reference's taken as infinite."""
    a, dropped = _finite(values)
    n = len(a)
    effect = float(a.mean() - reference) if n else math.nan
    if n < 2:
        return _comparison(label, "one-sample", effect, math.nan, math.nan, (n, 0), dropped, unit, margin)
    ours = float(a.var(ddof=1) / n)
    se = math.sqrt(ours + reference_se ** 2)
    df = (ours + reference_se ** 2) ** 2 / (ours ** 2 / (n - 1)) if ours > 0 else math.inf
    return _comparison(label, "one-sample", effect, se, df, (n, 0), dropped, unit, margin)
