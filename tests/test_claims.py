"""The five verdicts, the primary comparison, preconditions, the choice of test, Holm's correction within each
paper's claims, paper-number rows and the seed plan."""

from __future__ import annotations

import math
from dataclasses import replace

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy import stats as scipy_stats  # noqa: E402

from kdlib import claims, stats  # noqa: E402

SETTING = claims.Setting("Fashion-MNIST (stand-in for CIFAR-10)", "LeNet-5", "5 epochs (paper: 200)", 0.025)


def records(accuracies, model="lenet5", method="kd", seeds=None, **metrics):
    seeds = range(len(accuracies)) if seeds is None else seeds
    return [{"id": f"{model}-{method}-{seed}",
             "spec": {"seed": seed, "dataset": "fashion_mnist", "model": model, "method": method, "subset": None,
                      "val_size": 5000, "batch_size": 128},
             "metrics": {"test_acc": acc, **{k: v[i] for k, v in metrics.items()}}}
            for i, (seed, acc) in enumerate(zip(seeds, accuracies))]


def claim(comparisons, expect="higher", preconditions=(), claim_id="C0"):
    return claims.Claim(claim_id, "test", "A beats B", "CIFAR-10", SETTING, expect, tuple(comparisons),
                        tuple(preconditions))


def comparison(ours, against, margin=None, label="A − B"):
    return stats.welch(ours, against, label, margin)


HIGH, LOW = [91.0, 91.2, 91.1, 90.9], [89.0, 89.1, 88.9, 89.2]


def test_supported_when_significant_in_the_claimed_direction():
    verdict = claims.adjust([claim([comparison(HIGH, LOW)])])[0]
    assert verdict.verdict == "supported"
    assert "significant in the claimed direction after Holm" in verdict.reason


def test_contradicted_when_significant_the_other_way():
    verdict = claims.adjust([claim([comparison(LOW, HIGH, label="A − B")])])[0]
    assert verdict.verdict == "contradicted"
    assert verdict.reason == "significant in the opposite direction after Holm's correction within the paper's " \
                             "claims: A − B"
    assert claims.adjust([claim([comparison(LOW, HIGH)], expect="lower")])[0].verdict == "supported"


def test_a_null_result_is_inconclusive_and_names_its_detectable_effect_at_the_deciding_level():
    result = comparison([90.0, 91.5, 90.4], [90.2, 90.9, 90.8])
    other = comparison(HIGH, LOW, label="other")
    verdict, _ = claims.adjust([claim([result]), claim([other], claim_id="C1")])
    primary = verdict.comparisons[0]
    assert primary.level == pytest.approx(0.05)  # the larger p of a family of two faces alpha / 1 ...
    assert verdict.verdict == "inconclusive"
    assert verdict.reason == ("A − B: not significant after Holm's correction within the paper's claims; smallest "
                              f"effect detectable at its level 0.05 (MDE, 80 % power) {primary.mde_adjusted:.2f} "
                              f"points, power {primary.power_at_sesoi(0.5):.0%} at the SESOI of 0.5 points")
    first = claims.adjust([claim([result]), claim([other], claim_id="C1")])[1].comparisons[0]
    assert first.level == pytest.approx(0.025)  # ... the smaller one alpha / 2
    assert first.mde_adjusted == pytest.approx(stats.minimum_detectable_effect(first.se, first.df, 0.025))
    assert first.mde_adjusted > first.mde


def test_no_difference_never_supports_a_directional_claim_nor_a_matches_claim_without_tost():
    same = comparison([90.0, 90.1, 89.9], [90.0, 90.1, 89.9], margin=0.05)
    assert claims.adjust([claim([same], expect="matches")])[0].verdict == "inconclusive"  # too wide for ±0.05
    assert claims.adjust([claim([comparison([90.0, 90.1, 89.9], [90.0, 90.1, 89.9])])])[0].verdict == "inconclusive"


def test_equivalent_only_by_tost_within_the_stated_margin():
    close = comparison([90.00, 90.02, 89.98, 90.01], [90.01, 89.99, 90.00, 90.02], margin=0.5)
    assert claims.adjust([claim([close], expect="matches")])[0].verdict == "equivalent"
    far = comparison([92.0, 92.1, 91.9, 92.05], [90.0, 90.1, 89.9, 90.0], margin=0.5)
    verdict = claims.adjust([claim([far], expect="matches")])[0]
    assert verdict.verdict == "contradicted" and "beyond the margin" in verdict.reason


def test_a_matches_claim_must_state_its_margin():
    with pytest.raises(ValueError, match="states its margin up front"):
        claim([comparison(HIGH, LOW)], expect="matches")


def test_a_failed_precondition_makes_the_claim_untestable_but_it_stays_in_the_family():
    """The family is fixed by what the ledger tests: a failed control must not make the other claims easier."""
    failed = claims.control("KD beats the student on labels", comparison(LOW, HIGH, label="KD − labels"))
    passed = claims.control("the teacher beats the student", comparison(HIGH, LOW, label="teacher − student"))
    assert passed.holds and not failed.holds
    untestable = claim([comparison(HIGH, LOW)], preconditions=[passed, failed])
    assert untestable.verdict == "untestable here"
    assert untestable.reason.startswith("precondition failed: KD beats the student on labels (KD − labels: -")
    tested = claim([comparison(HIGH, LOW)], claim_id="C1")
    adjusted = claims.adjust([untestable, tested])
    family = stats.holm([untestable.comparisons[0].p, tested.comparisons[0].p])
    assert [c.comparisons[0].p_holm for c in adjusted] == pytest.approx(list(family))
    assert adjusted[0].verdict == "untestable here" and adjusted[1].verdict == "supported"


def test_a_control_with_no_spread_does_not_hold():
    assert not claims.control("teacher beats student", stats.welch([99.0], [98.0])).holds


def test_the_verdict_rests_on_the_primary_comparison_alone():
    """The first comparison decides; the others are secondary: described with their raw p, outside the family."""
    null = comparison(HIGH, [90.0, 91.5, 90.4], label="vs C")
    decided = claims.adjust([claim([comparison(HIGH, LOW, label="vs B"), null])])[0]
    assert decided.verdict == "supported" and decided.reason.startswith("vs B:")
    assert decided.comparisons[1].p_holm is None and decided.comparisons[1].level is None
    opposite = claims.adjust([claim([comparison(HIGH, LOW), comparison(LOW, HIGH, label="vs C")])])[0]
    assert opposite.verdict == "supported"  # a secondary comparison the other way does not contradict
    assert claims.adjust([claim([null, comparison(HIGH, LOW)])])[0].verdict == "inconclusive"
    assert claims.family_size(claims.adjust([claim([null, comparison(HIGH, LOW)])])) == 1


def test_derivation_and_measurement_claims_take_their_stated_outcome():
    derived = claims.Claim("C12", "t", "KD is label smoothing", "–", SETTING, basis="derivation", holds=True,
                           note="the KD loss splits into CE plus a KL term")
    assert derived.verdict == "supported" and derived.reason.startswith("derivation: the KD loss")
    assert claims.Claim("C2", "t", "s", "–", SETTING, basis="measurement", holds=None).verdict == "inconclusive"
    with pytest.raises(ValueError, match="needs at least one comparison"):
        claims.Claim("C9", "t", "s", "–", SETTING)
    with pytest.raises(ValueError, match="expect='bigger'"):
        claims.Claim("C9", "t", "s", "–", SETTING, expect="bigger", basis="derivation")


def _with_p(p, label):
    """A paired design whose t statistic gives exactly ``p`` (df = 3)."""
    t = scipy_stats.t.isf(p / 2, 3)
    differences = np.array([-1.0, 0.0, 1.0, 0.0])
    differences = differences / (differences.std(ddof=1) / 2) + t
    return stats.paired(differences, np.zeros(4), label)


def test_holm_runs_within_each_papers_claims():
    """Three claims of one paper whose raw p are 0.01, 0.02, 0.04: each significant alone, all after Holm; a fourth
    at 0.3 makes the family four; a claim of another paper (chapter) is not in it."""
    ledger = [claim([_with_p(p, f"c{p}")], claim_id=f"C{i}") for i, p in enumerate((0.01, 0.02, 0.04))]
    assert [c.comparisons[0].p for c in ledger] == pytest.approx([0.01, 0.02, 0.04])
    adjusted = claims.adjust(ledger)
    np.testing.assert_allclose([c.comparisons[0].p_holm for c in adjusted], [0.03, 0.04, 0.04])
    np.testing.assert_allclose([c.comparisons[0].level for c in adjusted], [0.05 / 3, 0.05 / 2, 0.05])
    assert [c.verdict for c in adjusted] == ["supported", "supported", "supported"]
    ledger.append(claim([_with_p(0.3, "null")], claim_id="C9"))
    elsewhere = replace(claim([_with_p(0.011, "other paper")], claim_id="C20"), chapter="another paper")
    adjusted = claims.adjust([*ledger, elsewhere])
    np.testing.assert_allclose([c.comparisons[0].p_holm for c in adjusted], [0.04, 0.06, 0.08, 0.3, 0.011])
    assert [c.verdict for c in adjusted] == ["supported", "inconclusive", "inconclusive", "inconclusive",
                                             "supported"]
    assert claims.family_size(adjusted, "test") == 4 and claims.family_size(adjusted, "another paper") == 1
    assert claims.counts(adjusted) == {"supported": 2, "contradicted": 0, "equivalent": 0, "inconclusive": 3,
                                       "untestable here": 0, "paper's value inside our CI": 0,
                                       "paper's value outside our CI": 0}


def test_holm_levels_by_hand():
    np.testing.assert_allclose(stats.holm_levels([0.04, np.nan, 0.01, 0.03]), [0.05, np.nan, 0.05 / 3, 0.05 / 2])


def test_a_matches_claim_brings_two_hypotheses_into_the_family():
    close = comparison([90.00, 90.02, 89.98, 90.01], [90.01, 89.99, 90.00, 90.02], margin=0.5)
    adjusted = claims.adjust([claim([close], expect="matches"), claim([comparison(HIGH, LOW)], claim_id="C1")])
    raw = [close.p_equivalence, close.p_beyond, adjusted[1].comparisons[0].p]
    expected = stats.holm(raw)
    assert adjusted[0].comparisons[0].p_equivalence_holm == pytest.approx(expected[0])
    assert adjusted[0].comparisons[0].p_beyond_holm == pytest.approx(expected[1])
    assert adjusted[1].comparisons[0].p_holm == pytest.approx(expected[2])


def test_compare_pairs_seed_matched_runs_and_uses_welch_otherwise():
    kd = records([0.912, 0.905, 0.931], method="kd")
    ce = records([0.902, 0.899, 0.920], method="ce")
    paired = claims.compare("KD − CE", kd, ce)
    assert paired.test == "paired"
    assert paired.p == pytest.approx(scipy_stats.ttest_rel([91.2, 90.5, 93.1], [90.2, 89.9, 92.0]).pvalue)
    shuffled = claims.compare("KD − CE", kd, ce[::-1])  # matched by seed, not by position
    assert shuffled.p == pytest.approx(paired.p)
    other_model = records([0.902, 0.899, 0.920], model="resnet20", method="ce")
    welch = claims.compare("KD − ResNet", kd, other_model)
    assert welch.test == "welch"
    assert welch.p == pytest.approx(scipy_stats.ttest_ind([91.2, 90.5, 93.1], [90.2, 89.9, 92.0],
                                                          equal_var=False).pvalue)
    assert claims.compare("", kd, records([0.9, 0.91, 0.92], seeds=[3, 4, 5])).test == "welch"


def test_compare_reads_two_metrics_of_the_same_runs_as_pairs():
    runs = records([0.90, 0.91, 0.92], model="resnet_sd", method="self_distillation",
                   ensemble_test_acc=[0.915, 0.921, 0.933], exit4_test_acc=[0.90, 0.91, 0.92])
    result = claims.compare("ensemble − exit 4", runs, runs, "ensemble_test_acc", "exit4_test_acc")
    assert result.test == "paired" and result.effect == pytest.approx(np.mean([1.5, 1.1, 1.3]))


def test_missing_metric_counts_as_not_a_value():
    runs = records([0.9, 0.91, 0.92])
    runs[1]["metrics"]["test_acc"] = None
    assert np.isnan(claims.points(runs)[1])


def test_table_has_one_row_per_comparison_with_scale_columns():
    ledger = claims.adjust([claim([comparison(HIGH, LOW, label="vs B"), comparison(HIGH, LOW, label="vs C")]),
                            claims.Claim("C12", "t", "derived", "–", SETTING, basis="derivation", holds=True,
                                         note="algebra")])
    frame = claims.table(ledger)
    assert list(frame["comparison"]) == ["vs B", "vs C", "derivation"]
    close = comparison([90.00, 90.02, 89.98, 90.01], [90.01, 89.99, 90.00, 90.02], margin=0.5)
    matches = claims.table(claims.adjust([claim([close], expect="matches")]))
    low, high = close.interval(0.90)
    assert matches.loc[0, "comparison"] == f"A − B (margin ±0.5; 90 % CI [{low:+.2f}, {high:+.2f}])"
    assert matches.loc[0, "p"].endswith(" beyond") and " equiv. / " in matches.loc[0, "p"]
    assert set(frame.columns) >= {"dataset", "model", "budget share", "effect [95 % CI]", "p", "p (Holm)", "MDE",
                                  "verdict"}
    assert frame.loc[0, "dataset"] == "Fashion-MNIST (stand-in for CIFAR-10)"
    assert frame.loc[0, "budget share"] == "2.5%"
    assert frame.loc[2, "verdict"] == "supported" and frame.loc[2, "p"] == "–"
    p_raw = ledger[0].comparisons[0].p
    assert frame.loc[0, "p"] == (f"{p_raw:.3f}" if p_raw >= 0.001 else "<0.001")


def test_forest_plot_draws_each_papers_primary_accuracy_comparisons_on_a_linear_axis():
    ledger = claims.adjust([claim([comparison(HIGH, LOW), comparison(LOW, HIGH, label="x")]),
                            claim([stats.welch([3.0, 3.1, 3.2], [4.0, 4.1, 4.3], "time", unit="minutes")],
                                  expect="lower", claim_id="C9"),
                            replace(claim([comparison([90.0, 91.5, 90.4], [90.2, 90.9, 90.8])], claim_id="C20"),
                                    chapter="another paper")])
    figure = claims.forest_plot(ledger)
    first, second = figure.axes
    assert [label.get_text() for label in first.get_yticklabels()] == ["C0 · A − B · Fashion-MNIST"]  # no secondary,
    # and minutes are not on this axis
    assert first.get_title(loc="left") == "test" and second.get_title(loc="left") == "another paper"
    assert first.get_xscale() == second.get_xscale() == "linear"
    decided, undecided = first.lines[0], second.lines[0]
    assert decided.get_xdata()[0] == pytest.approx(ledger[0].comparisons[0].ci[0])
    assert decided.get_alpha() == 1.0 and undecided.get_alpha() == 0.6  # inconclusive: fainter, hollow
    twins = [replace(ledger[0], setting=replace(SETTING, model=f"ResNet, {kind} exits")) for kind in ("ICCV", "TPAMI")]
    assert claims.forest_plot(twins).axes[0].get_yticklabels()[0].get_text() == \
        "C0 · A − B · Fashion-MNIST · ICCV exits"


def test_the_book_ledger_adjusts_each_chapter_as_its_page_does(monkeypatch):
    """Two chapters with one claim each: each is its own family, so the ledger and the chapter page agree."""
    import types

    from kdlib import book

    def chapter(name, values):
        def results(profile, train_missing=True, device=None):
            return {"profile": profile, "values": values}

        def chapter_claims(results):
            return claims.adjust([claims.Claim(f"C-{name}", name, "A beats B", "–", SETTING, "higher",
                                               (stats.welch(results["values"], LOW, name),))])
        return types.SimpleNamespace(results=results, claims=chapter_claims)

    fakes = {"one": chapter("one", HIGH), "two": chapter("two", [89.5, 89.4, 89.7, 89.3])}
    monkeypatch.setattr(book, "get_chapter", fakes.__getitem__)
    book.forget()
    ledger = book.ledger("cpu", chapters=("one", "two"))
    assert book.ledger("cpu", chapters=("one", "two")) is ledger  # computed once per process
    book.forget()
    for found in ledger:
        alone = fakes[found.chapter].claims(fakes[found.chapter].results("cpu"))[0]
        assert found.comparisons[0].p_holm == pytest.approx(alone.comparisons[0].p) == alone.comparisons[0].p_holm


def test_a_paper_number_row_says_whether_the_papers_value_lies_in_our_interval_and_is_in_no_family():
    inside = stats.against_value([1.32, 1.27, 1.37], 1.30, "ours − paper", unit="errors")
    outside = stats.against_value([1.32, 1.27, 1.37], 0.74, "ours − paper", unit="errors")
    rows = claims.adjust([claims.Claim(f"H{i}", "test", "makes 74 errors", "MNIST", SETTING, basis="paper number",
                                       comparisons=(c,)) for i, c in enumerate((inside, outside))]
                         + [claim([comparison(HIGH, LOW)])])
    assert [row.verdict for row in rows[:2]] == list(claims.PAPER_OUTCOMES)
    assert "not a refuted claim" in rows[1].reason and "contradicted" not in rows[1].reason
    assert rows[0].comparisons[0].p_holm is None and claims.family_size(rows, "test") == 1
    assert claims.table(rows)["role"].tolist() == ["paper number", "paper number", "primary"]
    assert claims.compact_table(rows)["why"].tolist()[:2] == [f"ours − paper {c.text()} errors" for c in (inside, outside)]
    with pytest.raises(ValueError, match="one comparison"):
        claims.Claim("H9", "t", "s", "–", SETTING, basis="paper number", comparisons=(inside, outside))


def test_the_sesoi_is_declared_or_follows_the_stated_rule():
    accuracy = claim([comparison(HIGH, LOW)])
    assert accuracy.declared_sesoi == claims.ACCURACY_SESOI["Fashion-MNIST"]
    own = replace(accuracy, sesoi=2.0, sesoi_reason="the paper's smallest gain")
    assert own.declared_sesoi == (2.0, "the paper's smallest gain")
    close = comparison([90.00, 90.02, 89.98, 90.01], [90.01, 89.99, 90.00, 90.02], margin=0.5)
    assert claim([close], expect="matches").declared_sesoi == (0.5, "the claim's equivalence margin")
    minutes = claim([stats.welch([3.0, 3.1, 3.2], [4.0, 4.1, 4.3], "time", unit="minutes")], expect="lower")
    assert minutes.declared_sesoi == (None, "")
    with pytest.raises(ValueError, match="must be positive"):
        replace(accuracy, sesoi=-1.0)


def test_the_plan_gives_the_seeds_for_80_percent_at_the_strictest_holm_step():
    """Two claims of one paper: each is planned at alpha / 2 from the spread its records show."""
    ours, against = records([0.911, 0.915, 0.909, 0.913]), records([0.905, 0.904, 0.908, 0.903], method="ce")
    for record in ours + against:
        record["provenance"] = {"wall_time_s": 90.0}
    first = claims.compare("kd − ce", ours, against)
    ledger = claims.adjust([claim([first]), claim([comparison(HIGH, LOW)], claim_id="C1")])
    plan = claims.seed_plan(ledger)
    row = plan.iloc[0]
    sd = first.se * math.sqrt(4)  # paired: the spread of the per-seed differences
    expected = stats.seeds_for_power(0.5, sd, 0.025, cap=claims.SEED_CAP)
    assert first.test == "paired" and row["pilot sd"] == pytest.approx(sd) and row["level"] == 0.025
    assert row["seeds needed"] == expected.seeds and row["power planned"] == pytest.approx(expected.power)
    assert row["CPU hours to add"] == pytest.approx(max(expected.seeds - 4, 0) * 180 / 3600)
    assert row["SESOI reason"] == claims.ACCURACY_SESOI["Fashion-MNIST"][1]


def test_one_run_against_a_group_reads_value_minus_group():
    group = records([0.90, 0.91, 0.92])
    result = claims.one_run_against("teacher − student", 95.0, group)
    reference = scipy_stats.ttest_1samp([90.0, 91.0, 92.0], 95.0)
    assert result.effect == pytest.approx(4.0) and result.p == pytest.approx(reference.pvalue)
    low, high = reference.confidence_interval(0.95)
    assert result.ci == pytest.approx((95.0 - high, 95.0 - low))


def _val_records(values, model, method, seeds=(0, 1, 2)):
    """Records whose validation accuracy is ``values`` (points) and whose test accuracy is the opposite story, so
    that a table reading the wrong metric fails."""
    return [{"id": f"{model}-{method}-{seed}",
             "spec": {"seed": seed, "dataset": "fashion_mnist", "model": model, "method": method, "subset": 5000,
                      "val_size": 5000, "batch_size": 128},
             "metrics": {"val_acc": value / 100, "test_acc": (100 - value) / 100}}
            for seed, value in zip(seeds, values)]


def test_control_table_reads_validation_pairs_by_seed_and_marks_the_controls_that_hold():
    student = [80.0, 82.0, 81.0]
    kd_book, kd_code = [79.0, 80.5, 80.2], [81.0, 83.1, 81.9]
    teacher = [84.0, 85.5, 83.0]
    arms = {"setting": {"student alone": _val_records(student, "wrn_10_1", "ce"),
                        "teacher alone": _val_records(teacher, "wrn_16_1", "ce"),
                        "KD, book's term": _val_records(kd_book, "wrn_10_1", "kd"),
                        "KD, code's term": _val_records(kd_code, "wrn_10_1", "kd")},
            "α 0.5": {"student alone": _val_records(student, "wrn_10_1", "ce"),
                      "KD, book's term": _val_records(kd_code, "wrn_10_1", "kd")}}
    table = claims.control_table(arms)
    assert list(table.index) == ["setting", "α 0.5"]
    assert table.loc["setting", "student alone (%)"] == f"{np.mean(student):.2f} ± {np.std(student, ddof=1):.2f}"
    # paired by seed (same light net): mean difference ± t(0.975, 2) · sd / √3, computed here by hand
    for column, values, holds in (("KD, code's term", kd_code, True), ("KD, book's term", kd_book, False)):
        diff = np.subtract(values, student)
        half = scipy_stats.t.ppf(0.975, 2) * diff.std(ddof=1) / math.sqrt(3)
        cell = table.loc["setting", f"{column} − student alone"]
        assert cell.startswith(f"{diff.mean():+.2f} [{diff.mean() - half:+.2f}, {diff.mean() + half:+.2f}]"), cell
        assert cell.endswith("✓") == holds
    # another network: Welch, never paired
    welch = scipy_stats.ttest_ind(teacher, student, equal_var=False)
    assert table.loc["setting", "teacher alone − student alone"].startswith(f"{np.mean(teacher) - np.mean(student):+.2f}")
    assert welch.pvalue < 0.05 and table.loc["setting", "teacher alone − student alone"].endswith("✓")
    assert table.loc["α 0.5", "teacher alone − student alone"] == "–"
    assert table.loc["α 0.5", "KD, book's term − student alone"].endswith("✓")


def test_passing_names_the_arms_where_a_row_beats_the_student():
    student = [80.0, 82.0, 81.0]
    arms = {"a": {"student alone": _val_records(student, "wrn_10_1", "ce"),
                  "KD": _val_records([81.0, 83.1, 81.9], "wrn_10_1", "kd")},
            "b": {"student alone": _val_records(student, "wrn_10_1", "ce"),
                  "KD": _val_records([79.0, 80.5, 80.2], "wrn_10_1", "kd")},
            "c": {"student alone": _val_records(student, "wrn_10_1", "ce")}}
    study = claims.control_study(arms)
    assert claims.passing(study, "KD") == ["a"]
    assert study["b"]["KD"].effect == pytest.approx(np.mean([79.0, 80.5, 80.2]) - np.mean(student))
    assert claims.passing(claims.control_study(arms, metric="test_acc"), "KD") == ["b"]  # the mirrored test numbers


def test_controls_on_test_read_the_test_set_and_say_whether_each_holds():
    student = [80.0, 82.0, 81.0]
    arm = {"student alone": _val_records(student, "wrn_10_1", "ce"),
           "KD": _val_records([79.0, 80.5, 80.2], "wrn_10_1", "kd")}  # worse on validation, so better on test
    table = claims.controls_on_test(arm, {"KD": "KD beats the student"})
    diff = np.subtract([21.0, 19.5, 19.8], [20.0, 18.0, 19.0])
    assert table.loc[0, "control (test accuracy)"] == "KD beats the student"
    assert table.loc[0, "effect [95 % CI]"].startswith(f"{diff.mean():+.2f} [")
    half = scipy_stats.t.ppf(0.975, 2) * diff.std(ddof=1) / math.sqrt(3)
    assert diff.mean() - half > 0 and table.loc[0, "holds"] == "yes"  # paired by seed: +1.10 [+0.21, +1.99]


def test_the_answer_table_has_one_row_per_claim_as_tested_with_the_papers_words_and_number():
    reference = claims.paper_claims()
    assert set(reference["claim"]) == {"H4", *(f"C{i}" for i in range(1, 20))}  # every claim of the book, sourced
    assert reference["source"].notna().all() and not reference["source"].str.contains("shared").any()
    ledger = claims.adjust([
        claims.Claim("H1", "test", "makes 67 errors", "MNIST", SETTING, basis="paper number",
                     comparisons=(stats.against_value([70.0, 71.0, 72.0], 67.0, "ours − paper"),)),
        claim([comparison(HIGH, LOW)], claim_id="C6"),
        replace(claim([comparison(HIGH, LOW)], claim_id="C6"), setting=replace(SETTING, dataset="MNIST")),
        replace(claim([comparison([90.0, 91.5, 90.4], [90.2, 90.9, 90.8])], claim_id="C13"), statement="other")])
    table = claims.answers(ledger, reference)
    assert [row.split("**")[1] for row in table["claim, as tested here"]] == ["C6", "C13"]  # H1 is no claim
    six = table.iloc[0]
    assert six["ours: setting → verdict"].count("→ **supported**") == 2 and "2.5% of its budget" in six.iloc[3]
    assert six["the paper"].startswith("Zhou et al. 2018: paraphrase: ")
    assert six["the paper's number"] == reference.set_index("claim").loc["C6", "paper_number"]
    assert six["why"].endswith(f"Holm p {claims.format_p(ledger[1].primary.p_holm)}")
    assert table.iloc[1]["why"].endswith("at the SESOI")  # inconclusive: the power it had
    markdown = claims.answers_markdown(table)
    assert markdown.count("[^source-C6]") == 2 and "[^source-C6]: " in markdown  # one reference, one note
    assert markdown.splitlines()[0].count("|") == 6  # five columns: the source is a footnote


def test_a_chapters_compact_table_and_verdict_box_show_each_claim_settings_verdict_first():
    from kdlib import report

    failed = claims.control("the teacher beats the student", comparison(LOW, HIGH, label="teacher − student"))
    ledger = claims.adjust([claim([comparison(HIGH, LOW), comparison(LOW, HIGH, label="vs C")], claim_id="C6"),
                            claim([comparison(HIGH, LOW)], preconditions=[failed], claim_id="C7")])
    compact = claims.compact_table(ledger)
    assert list(compact.columns) == ["claim", "setting", "statement", "primary comparison", "effect [95 % CI]",
                                     "verdict", "why"]
    assert len(compact) == 2 and compact.loc[0, "primary comparison"] == "A − B"  # the secondary is not here
    assert compact.loc[1, "why"] == "not met: the teacher beats the student"
    box = report.verdict_box(ledger, "test").data
    assert "<b>C6</b> (Fashion-MNIST (stand-in for CIFAR-10)): <b>supported</b>" in box
    assert "the teacher beats the student (Fashion-MNIST (stand-in for CIFAR-10)): <b>fails</b>" in box
    assert "<b>Budget:</b> 2.5 % of the paper's" in box


def test_a_matches_claim_gives_the_adjusted_p_of_the_test_that_decided_it():
    close = comparison([90.00, 90.02, 89.98, 90.01], [90.01, 89.99, 90.00, 90.02], margin=0.5)
    equivalent = claims.adjust([claim([close], expect="matches")])[0]
    assert equivalent.verdict == "equivalent"
    assert claims.short_reason(equivalent) == (f"{equivalent.primary.text()} points, within ±0.5: Holm p "
                                               f"{claims.format_p(equivalent.primary.p_equivalence_holm)}")
    far = comparison([92.0, 92.1, 91.9, 92.05], [90.0, 90.1, 89.9, 90.0], margin=0.5)
    beyond = claims.adjust([claim([far], expect="matches")])[0]
    assert beyond.verdict == "contradicted" and claims.short_reason(beyond).endswith(
        f"beyond ±0.5: Holm p {claims.format_p(beyond.primary.p_beyond_holm)}")
    assert "–" not in claims.short_reason(equivalent) + claims.short_reason(beyond)


def test_a_verdict_box_says_when_the_paper_gives_no_budget_to_compare_with():
    from dataclasses import replace

    from kdlib import report

    found = claims.adjust([claim([comparison(HIGH, LOW)], claim_id="C6")])
    unstated = [replace(c, setting=replace(c.setting, budget_share=None)) for c in found]
    box = report.verdict_box(unstated, "test").data
    assert "<b>Budget:</b> the paper states no training budget to compare with." in box
    assert "of the paper's training steps" not in box


def test_the_ledger_refuses_a_family_that_was_never_adjusted():
    """The book's ledger does not adjust a second time: a chapter's claims() must return its adjusted family."""
    raw = [claim([comparison(HIGH, LOW)]), claim([comparison([90.0, 90.1, 89.9], [90.0, 90.1, 89.9], margin=0.5)],
                                                 expect="matches", claim_id="C1")]
    with pytest.raises(ValueError, match="claim C[01] of chapter .* has no Holm-adjusted p.*end the chapter's "
                                         r"claims\(\) with kdlib.claims.adjust"):
        claims.check_adjusted(raw)
    claims.check_adjusted(claims.adjust(raw))  # adjusted: nothing to refuse
