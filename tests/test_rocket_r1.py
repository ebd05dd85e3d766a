"""Rocket's R-1 main runs on the 100-class pairs (its pilot passed): the plan, the seed count and the claims, fixed
before any main record, read on hand-made records."""

from __future__ import annotations

import numpy as np
import pytest

from kdlib import stats
from kdlib.chapters import Choose
from kdlib.chapters import rocket_launching as chapter
from kdlib.profiles import Profile
from test_rocket import _results

R1_ROWS = ("light alone", "booster alone", "KD from the booster", "rocket (a)", "rocket + KD (a)",
           "no gradient block (a)", "no sharing", "no joint training (a)", "hint L_MSE (a)", "hint L_KD (a)",
           chapter.R1_RANDOM_ROW)


def _profile(seeds=(0, 1, 2)):
    return Profile("cpu", "rocket_launching", (("r1_seeds", tuple(seeds)),))


def _chooser(picks):
    """Every grid has records: validation 0.6 everywhere, 0.7 at the λ ``picks`` names per hint."""
    grid = chapter.r1_lambda_grid()
    best = {grid[hint][lam].id for hint, lam in picks.items()}
    return Choose(lambda spec: {"metrics": {"val_acc": 0.7 if spec.id in best else 0.6}})


def test_the_cpu_profile_trains_no_r1_table_until_its_seeds_are_set():
    assert chapter.r1_plan("cpu", Choose(lambda spec: None)) == {}
    assert chapter.datasets("cpu") == ("fashion_mnist",)
    assert chapter.datasets(_profile()) == ("fashion_mnist", "fashion_pairs")


def test_the_first_r1_stage_is_each_hints_lambda_grid_at_seed_0_on_the_pairs():
    from kdlib.chapters import Missing

    with pytest.raises(Missing) as missing:
        chapter.r1_plan(_profile(), Choose(lambda spec: None))
    specs = missing.value.specs
    assert len(specs) == 9 and {(s.dataset, s.seed, s.method, s.model) for s in specs} == {
        ("fashion_pairs", 0, "rocket", "rocket_mlp_64_1024_bottom")}
    assert {s.id for s in specs} == {chapter.r1_rocket(0, chapter.R1_MAIN, hint=hint, lam=lam).id
                                     for hint, lams in chapter._LAMBDAS.items() for lam in lams}


def test_the_r1_table_uses_the_chosen_lambdas_same_seed_boosters_and_the_pilots_own_runs():
    picks = {"mimic": 0.3, "mse": 0.3, "kd": 10.0}
    planned = chapter.r1_plan(_profile((0, 1, 2)), _chooser(picks))
    table = planned["table"]
    assert planned["lambdas"] == picks and tuple(table) == R1_ROWS
    assert all([s.seed for s in specs] == [0, 1, 2] for specs in table.values())
    assert {s.dataset for specs in table.values() for s in specs} == {"fashion_pairs"}
    pilot = chapter.r1_pilot(chapter.R1_MAIN)
    for row in chapter.R1_PILOT_ROWS:  # seeds 0-1 are the pilot's runs, reused
        assert table[row][:2] == pilot[row]
    for seed, rocket in enumerate(table["rocket (a)"]):
        booster = table["booster alone"][seed]
        assert rocket == chapter.r1_rocket(seed, chapter.R1_MAIN, hint="mimic", lam=0.3)
        assert table["rocket + KD (a)"][seed] == rocket.replace(method="rocket_kd", teacher=booster)
        assert dict(table["no gradient block (a)"][seed].method_params)["grad_block"] == 0.0
        assert table["no sharing"][seed].model == "rocket_mlp_64_1024_none"
        alone_after = table["no joint training (a)"][seed]
        assert (alone_after.method, alone_after.teacher, alone_after.init_from_teacher) == ("mimic", booster, True)
        assert table["hint L_KD (a)"][seed] == chapter.r1_rocket(seed, chapter.R1_MAIN, hint="kd", lam=10.0)
        assert table["hint L_MSE (a)"][seed] == chapter.r1_rocket(seed, chapter.R1_MAIN, hint="mse", lam=0.3)
        random = table[chapter.R1_RANDOM_ROW][seed]
        assert random.teacher == booster.replace(stop_step=1)  # the untrained booster: one step from its init
        assert random.replace(teacher=booster) == table["KD from the booster"][seed]


def _pilot(light, booster, kd):
    """R-1 pilot records at these validation accuracies (one per seed, points)."""
    def records(row, values):
        return [{"id": f"{row}-{seed}", "spec": {"seed": seed}, "metrics": {"val_acc": value / 100}}
                for seed, value in enumerate(values)]
    return {"light alone": records("light", light), "booster alone": records("booster", booster),
            "KD from the booster": records("kd", kd)}


def test_the_seed_plan_takes_the_larger_spread_and_the_strictest_holm_level():
    found = _pilot(light=(66.0, 66.5), booster=(69.0, 69.1), kd=(68.0, 69.4))
    plan = chapter.r1_seed_plan(found)
    paired_sd = np.std([68.0 - 66.0, 69.4 - 66.5], ddof=1)  # 0.64
    row_sd = np.sqrt(2) * np.std([68.0, 69.4], ddof=1)  # 1.40: larger, so it plans
    assert plan["paired sd"] == pytest.approx(paired_sd) and plan["sd"] == pytest.approx(row_sd)
    assert plan["level"] == pytest.approx(0.05 / 8) and plan["sesoi"] == 1.0
    expected = stats.seeds_for_power(1.0, row_sd, 0.05 / 8, cap=20)
    assert plan["plan"].seeds == expected.seeds and plan["seeds"] == max(expected.seeds, 10)
    wide = chapter.r1_seed_plan(_pilot(light=(66.0, 66.5), booster=(69.0, 69.1), kd=(67.0, 70.0)))
    assert wide["seeds"] > 10  # a wider pilot asks for more than the floor
    with pytest.raises(ValueError, match="fewer than two finite values"):
        chapter.r1_seed_plan(_pilot(light=(66.0,), booster=(69.0,), kd=(68.0,)))


R1_MODELS = {"light alone": ("mlp_256_64", "ce"), "booster alone": ("mlp_256_1024x2_drop20", "ce"),
             "KD from the booster": ("mlp_256_64", "kd"), "rocket (a)": ("rocket_mlp_64_1024_bottom", "rocket"),
             "rocket + KD (a)": ("rocket_mlp_64_1024_bottom", "rocket_kd"),
             "no gradient block (a)": ("rocket_mlp_64_1024_bottom", "rocket"),
             "no sharing": ("rocket_mlp_64_1024_none", "rocket"), "no joint training (a)": ("mlp_256_64", "mimic"),
             "hint L_MSE (a)": ("rocket_mlp_64_1024_bottom", "rocket"),
             "hint L_KD (a)": ("rocket_mlp_64_1024_bottom", "rocket"), chapter.R1_RANDOM_ROW: ("mlp_256_64", "kd")}


def _r1_table(accuracy=None, seeds=range(10)):
    acc = {"light alone": 66.0, "booster alone": 69.0, "KD from the booster": 67.8, "rocket (a)": 69.0,
           "rocket + KD (a)": 69.2, "no gradient block (a)": 67.0, "no sharing": 67.5, "no joint training (a)": 67.0,
           "hint L_MSE (a)": 67.5, "hint L_KD (a)": 67.5, chapter.R1_RANDOM_ROW: 66.0, **(accuracy or {})}
    seconds = {row: 30.0 for row in R1_MODELS} | {"booster alone": 140.0, "rocket (a)": 150.0}
    table = {}
    for row, (model, method) in R1_MODELS.items():
        rng = np.random.default_rng(sum(map(ord, row)))
        table[row] = [{"id": f"r1 {row}-{seed}",
                       "spec": {"seed": seed, "dataset": "fashion_pairs", "model": model, "method": method,
                                "subset": None, "val_size": 5000, "batch_size": 128, "augment": "none"},
                       "metrics": {"test_acc": (acc[row] + 0.3 * rng.standard_normal()) / 100},
                       "history": [{"epoch": 60, "step": 4740, "train_time_s": seconds[row] + rng.standard_normal()}]}
                      for seed in seeds]
    return table


def test_r1_joins_the_papers_family_with_its_own_setting_and_sesoi():
    results = {**_results(), "r1": {"table": _r1_table()}}
    found = chapter.claims(results)
    r1 = [claim for claim in found if claim.setting.dataset.startswith("Fashion-MNIST pairs")]
    assert [claim.id for claim in found] == ["C6", "C7", "C8", "C9"] * 2 and len(r1) == 4
    assert all(claim.declared_sesoi[0] == 1.0 for claim in r1[:3])  # 1.6 binomial SEs on 5,000 test pairs
    assert sum(claim.primary.p_holm is not None for claim in found) == chapter.R1_FAMILY  # one Holm family
    by_id = {claim.id: claim for claim in r1}
    assert by_id["C6"].verdict == "supported", by_id["C6"].reason  # rocket (a) − light alone: +3 points
    assert by_id["C6"].primary.label == "rocket (a) − light alone"
    tests = {c.label: c.test for c in by_id["C7"].comparisons}
    assert tests["rocket (a) − no gradient block (a)"] == "paired" and tests["rocket (a) − no sharing"] == "welch"
    assert by_id["C9"].expect == "lower" and by_id["C9"].comparisons[0].unit == "minutes"
    assert by_id["C6"].setting.budget_share == pytest.approx(4740 / chapter.PAPER_STEPS)


def test_without_its_controls_on_test_r1_judges_nothing():
    results = {**_results(), "r1": {"table": _r1_table({"KD from the booster": 66.0})}}
    r1 = [claim for claim in chapter.claims(results) if claim.setting.dataset.startswith("Fashion-MNIST pairs")]
    assert all(claim.verdict == "untestable here" for claim in r1[:3])
    assert chapter.r1_claims({"r1": {}}) == [] and chapter.r1_claims({}) == []


def test_the_page_says_how_many_seeds_r1_plans_once_its_testbed_passes():
    from test_rocket_testbed import _found

    failed = [(testbed, _found(booster=0.86, testbed=testbed)) for testbed in chapter.R1_TESTBEDS[:3]]
    passed = _found(light=(0.66, 0.665), booster=(0.69, 0.691), kd=(0.68, 0.694), testbed=chapter.R1_MAIN)
    numbers = chapter.testbed_numbers([*failed, (chapter.R1_MAIN, passed)])
    plan = chapter.r1_seed_plan(passed)
    assert numbers["r1_chosen"] == chapter.R1_MAIN.name
    assert f"at {plan['seeds']} seeds (80 % power at the 1-point SESOI" in numbers["r1_outcome"]
    assert f"asks {plan['plan'].seeds} from this pilot's spread" in numbers["r1_outcome"]


def test_the_random_teacher_arm_is_c6s_last_secondary_on_r1_and_the_wrn_summary_still_reads_its_own_claims():
    results = {**_results(), "r1": {"table": _r1_table()}}
    ledger = chapter.claims(results)
    r1_c6 = next(claim for claim in ledger if claim.id == "C6" and claim.paper == chapter.R1_PAPER)
    assert r1_c6.comparisons[-1].label == f"KD from the booster − {chapter.R1_RANDOM_ROW}"
    assert r1_c6.comparisons[-1].p_holm is None  # secondary: descriptive
    wrn_c6 = next(claim for claim in ledger if claim.id == "C6" and claim.paper == chapter.PAPER_SETTING)
    assert all(chapter.R1_RANDOM_ROW not in c.label for c in wrn_c6.comparisons)
    numbers = chapter.claim_numbers(ledger)  # the WRN pair's summary, not R-1's claims of the same ids
    assert numbers["rocket_vs_base"] == wrn_c6.comparisons[0].text()
    assert numbers["verdicts"].count("C6") == 1
