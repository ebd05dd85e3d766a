"""The statistics layer against independent computations: scipy's tests, a simulation of power, a hand-worked Holm."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from kdlib import stats

OURS = [97.12, 97.48, 97.31]
AGAINST = [96.80, 97.02, 96.51]


def test_welch_matches_scipy():
    result = stats.welch(OURS, AGAINST, "ours − against")
    reference = scipy_stats.ttest_ind(OURS, AGAINST, equal_var=False)
    low, high = reference.confidence_interval(0.95)
    assert result.test == "welch" and result.n == (3, 3)
    assert result.effect == pytest.approx(np.mean(OURS) - np.mean(AGAINST))
    assert result.p == pytest.approx(reference.pvalue, rel=1e-10)
    assert result.df == pytest.approx(reference.df, rel=1e-10)
    assert result.ci == pytest.approx((low, high), rel=1e-10)


def test_paired_matches_scipy():
    result = stats.paired(OURS, AGAINST)
    reference = scipy_stats.ttest_rel(OURS, AGAINST)
    assert result.test == "paired" and result.df == 2
    assert result.p == pytest.approx(reference.pvalue, rel=1e-10)
    assert result.ci == pytest.approx(tuple(reference.confidence_interval(0.95)), rel=1e-10)


def test_one_sample_against_a_papers_number_matches_scipy():
    result = stats.against_value([1.32, 1.27, 1.37], 0.74)
    reference = scipy_stats.ttest_1samp([1.32, 1.27, 1.37], 0.74)
    assert result.effect == pytest.approx(0.58)
    assert result.p == pytest.approx(reference.pvalue, rel=1e-10)
    low, high = reference.confidence_interval(0.95)  # scipy's interval is for the mean itself
    assert result.ci == pytest.approx((low - 0.74, high - 0.74), rel=1e-10)


def test_pairing_removes_the_seeds_own_effect():
    """Seeds that shift both methods alike: Welch sees noise, the paired test sees a constant +0.1."""
    base = np.array([95.0, 97.0, 96.0, 98.0])
    assert stats.welch(base + 0.1, base).p > 0.5
    assert stats.paired(base + 0.1 + np.array([0.01, -0.01, 0.0, 0.0]), base).p < 1e-3


def test_diverged_runs_are_left_out_and_counted():
    result = stats.welch([97.0, float("nan"), 97.4, 97.2], AGAINST)
    assert result.n == (3, 3) and result.excluded == 1
    assert result.p == pytest.approx(scipy_stats.ttest_ind([97.0, 97.4, 97.2], AGAINST, equal_var=False).pvalue)
    pair = stats.paired([1.0, float("nan"), 3.0, 4.0], [0.5, 1.0, 2.0, 3.9])
    assert pair.n == (3, 3) and pair.excluded == 1


def test_one_seed_or_no_spread_is_not_a_test():
    for result in (stats.welch([97.0], AGAINST), stats.paired([1.0, 2.0], [0.0, 1.0]),
                   stats.welch([1.0, 1.0], [1.0, 1.0])):
        assert not result.testable
        assert math.isnan(result.p) and math.isnan(result.mde)
    assert stats.welch([97.0], AGAINST).text() == f"{97.0 - np.mean(AGAINST):+.2f} (no spread)"


def test_paired_needs_one_value_per_seed_on_both_sides():
    with pytest.raises(ValueError, match="one value per seed on both sides, got 3 and 2"):
        stats.paired([1, 2, 3], [1, 2])


@pytest.mark.parametrize("df", [2, 4, 12])
def test_minimum_detectable_effect_has_80_percent_power(df):
    """Simulated t tests with the true effect at the MDE reject about 80 % of the time (n = df + 1, paired)."""
    n, sigma = df + 1, 0.7
    se = sigma / math.sqrt(n)
    mde = stats.minimum_detectable_effect(se, df)
    rng = np.random.default_rng(0)
    # per-seed differences with the true sigma behind ``se``; each row is one experiment's paired t test
    draws = rng.normal(mde, sigma, size=(40_000, n))
    t = draws.mean(axis=1) / (draws.std(axis=1, ddof=1) / math.sqrt(n))
    rejected = np.abs(t) > scipy_stats.t.ppf(0.975, df)
    assert rejected.mean() == pytest.approx(0.80, abs=0.01)
    # and it exceeds the critical value times the standard error (what a 95 % band alone would suggest)
    assert mde > scipy_stats.t.ppf(0.975, df) * se


def test_equivalence_is_two_one_sided_tests():
    a, b, margin = [97.30, 97.35, 97.25, 97.32], [97.28, 97.31, 97.29, 97.27], 0.2
    result = stats.welch(a, b, margin=margin)
    # TOST: both one-sided tests of H0 Δ <= −m and H0 Δ >= +m, done with scipy on shifted data
    low = scipy_stats.ttest_ind(np.add(a, margin), b, equal_var=False, alternative="greater").pvalue
    high = scipy_stats.ttest_ind(np.subtract(a, margin), b, equal_var=False, alternative="less").pvalue
    assert result.p_equivalence == pytest.approx(max(low, high), rel=1e-9)
    assert result.p_equivalence < 0.05
    beyond = scipy_stats.ttest_ind(np.subtract(a, margin), b, equal_var=False, alternative="greater").pvalue
    assert result.p_beyond == pytest.approx(beyond, rel=1e-9)  # observed Δ > 0, so the upper side


def test_a_margin_must_be_positive():
    with pytest.raises(ValueError, match="margin must be positive"):
        stats.welch(OURS, AGAINST, margin=0)


def test_holm_by_hand_and_nan_is_not_a_test():
    # sorted: 0.005×4 = 0.02, 0.01×3 = 0.03, 0.03×2 = 0.06, 0.04×1 = 0.04 → raised to 0.06 (monotone)
    adjusted = stats.holm([0.01, 0.04, 0.03, float("nan"), 0.005])
    np.testing.assert_allclose(adjusted[[0, 1, 2, 4]], [0.03, 0.06, 0.06, 0.02])
    assert math.isnan(adjusted[3])
    assert stats.holm([0.6, 0.9])[1] == 1.0  # capped at one
    assert len(stats.holm([])) == 0


def test_holm_rejects_what_the_step_down_procedure_rejects_on_random_families():
    """Holm's procedure as usually stated: sort the p-values, reject while p_(k) <= α / (m − k + 1), stop at the
    first that is not; an adjusted p below α must reject exactly the same hypotheses, at every α."""
    rng = np.random.default_rng(1)
    for _ in range(200):
        m = int(rng.integers(1, 15))
        p = rng.uniform(0, 0.1, size=m) ** rng.uniform(0.5, 2)
        alpha = float(rng.uniform(0.001, 0.2))
        rejected = set()
        for k, index in enumerate(np.argsort(p)):
            if p[index] > alpha / (m - k):
                break
            rejected.add(int(index))
        assert set(np.flatnonzero(stats.holm(p) <= alpha)) == rejected
        # never below the raw p, never above Bonferroni
        assert np.all(stats.holm(p) >= p) and np.all(stats.holm(p) <= np.minimum(1, m * p) + 1e-15)


def test_welch_mde_has_about_80_percent_power_with_unequal_spreads():
    """Welch's degrees of freedom make its MDE approximate; simulated Welch tests at that effect reject close to
    80 % of the time (three seeds against five, spreads 0.3 and 0.9)."""
    n_a, n_b, s_a, s_b = 3, 5, 0.3, 0.9
    se = math.sqrt(s_a ** 2 / n_a + s_b ** 2 / n_b)
    df = se ** 4 / ((s_a ** 2 / n_a) ** 2 / (n_a - 1) + (s_b ** 2 / n_b) ** 2 / (n_b - 1))
    mde = stats.minimum_detectable_effect(se, df)
    rng = np.random.default_rng(2)
    a = rng.normal(mde, s_a, size=(20_000, n_a))
    b = rng.normal(0.0, s_b, size=(20_000, n_b))
    rejected = scipy_stats.ttest_ind(a, b, axis=1, equal_var=False).pvalue < 0.05
    assert rejected.mean() == pytest.approx(0.80, abs=0.04)


def test_a_90_percent_interval_matches_scipy_and_sits_inside_the_95():
    result = stats.welch(OURS, AGAINST)
    reference = scipy_stats.ttest_ind(OURS, AGAINST, equal_var=False).confidence_interval(0.90)
    assert result.interval(0.90) == pytest.approx(tuple(reference), rel=1e-10)
    assert result.ci[0] < result.interval(0.90)[0] < result.interval(0.90)[1] < result.ci[1]


def test_text_shows_effect_and_interval():
    result = stats.welch(OURS, AGAINST)
    low, high = result.ci
    assert result.text() == f"{result.effect:+.2f} [{low:+.2f}, {high:+.2f}]"


@pytest.mark.parametrize("effect, test, seeds", [(0.5, "paired", 34), (0.8, "paired", 15), (1.0, "paired", 10),
                                                 (0.5, "welch", 64)])
def test_seeds_for_power_match_the_published_sample_size_tables(effect, test, seeds):
    """Cohen's (1988) tables, as G*Power gives them: two-sided 5 %, 80 % power, standardised effect ``effect``:
    34, 15 and 10 pairs for a paired t test, 64 a side for two independent groups."""
    plan = stats.seeds_for_power(effect, 1.0, test=test, cap=200)
    assert plan.seeds == seeds and not plan.capped and plan.power >= 0.8
    assert stats.power(effect, 1.0, seeds - 1, test=test) < 0.8


@pytest.mark.parametrize("sesoi, sd, alpha", [(0.47, 0.30, 0.05), (0.5, 0.8, 0.05 / 8), (2.0, 1.8, 0.01)])
def test_planned_power_against_scipys_noncentral_t_written_out(sesoi, sd, alpha):
    plan = stats.seeds_for_power(sesoi, sd, alpha, cap=500)
    n = plan.seeds
    ncp, df = sesoi / (sd / math.sqrt(n)), n - 1
    critical = scipy_stats.t.ppf(1 - alpha / 2, df)
    independent = scipy_stats.nct.sf(critical, df, ncp) + scipy_stats.nct.cdf(-critical, df, ncp)
    assert plan.power == pytest.approx(independent, rel=1e-9) and independent >= 0.8
    ncp_less = sesoi / (sd / math.sqrt(n - 1))
    critical_less = scipy_stats.t.ppf(1 - alpha / 2, n - 2)
    assert scipy_stats.nct.sf(critical_less, n - 2, ncp_less) < 0.8  # one seed fewer is not enough


def test_planned_power_by_simulation():
    """Paired t tests on simulated per-seed differences reject at the planned rate (20,000 draws: ±0.01)."""
    rng = np.random.default_rng(0)
    plan = stats.seeds_for_power(0.4, 0.5, alpha=0.01)
    draws = rng.normal(0.4, 0.5, size=(20_000, plan.seeds))
    rejected = scipy_stats.ttest_1samp(draws, 0.0, axis=1).pvalue < 0.01
    assert rejected.mean() == pytest.approx(plan.power, abs=0.01)


def test_equivalence_power_by_simulation():
    rng = np.random.default_rng(1)
    plan = stats.seeds_for_power(0.5, 0.3, alpha=0.05, equivalence=True)
    draws = rng.normal(0.0, 0.3, size=(20_000, plan.seeds))
    means, se = draws.mean(axis=1), draws.std(axis=1, ddof=1) / math.sqrt(plan.seeds)
    df = plan.seeds - 1
    shown = (scipy_stats.t.sf((means + 0.5) / se, df) < 0.05) & (scipy_stats.t.cdf((means - 0.5) / se, df) < 0.05)
    assert shown.mean() == pytest.approx(plan.power, abs=0.03)  # the t approximation: close, not exact


def test_a_plan_says_when_the_cap_binds_and_refuses_what_it_cannot_plan():
    plan = stats.seeds_for_power(0.2, 5.0, cap=20)
    assert plan.capped and plan.seeds == 20 and plan.power == pytest.approx(stats.power(0.2, 5.0, 20))
    with pytest.raises(ValueError, match="positive sd"):
        stats.seeds_for_power(0.5, 0.0)
    with pytest.raises(ValueError, match="smallest effect of interest must be a positive"):
        stats.seeds_for_power(0.0, 1.0)


def test_the_mde_at_an_adjusted_level_has_80_percent_power_there():
    result = stats.paired(OURS, AGAINST)
    adjusted = stats.with_holm(result, p_holm=0.1, level=0.05 / 8)
    mde = adjusted.mde_adjusted
    critical = scipy_stats.t.ppf(1 - 0.05 / 16, result.df)
    power = scipy_stats.nct.sf(critical, result.df, mde / result.se) + scipy_stats.nct.cdf(-critical, result.df,
                                                                                             mde / result.se)
    assert power == pytest.approx(0.8, abs=1e-6) and mde > result.mde
