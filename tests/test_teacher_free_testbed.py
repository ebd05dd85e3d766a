"""The teacher-free chapter's second testbed (TF-1): its pilot's runs, and gates fixed before their records."""

from __future__ import annotations

import pytest

from kdlib import cli
from kdlib.chapters import teacher_free as chapter


def _record(spec, val):
    return {"id": spec.id, "spec": spec.to_dict(), "metrics": {"val_acc": val, "test_acc": val}}


def _found(alone=(0.80, 0.83, 0.84), kd=0.815, best=0.825, seed_shift=0.002, testbed=chapter.TF1_TESTBEDS[0]):
    """Pilot records: each model alone (MLP, LeNet-5, small CNN), KD at ``kd`` in every cell but α 0.9, τ 4 (``best``);
    seed 1 a little better than seed 0."""
    pilot = chapter.tf1_pilot(testbed)
    rows = lambda specs, v: [_record(s, v + seed_shift * s.seed) for s in specs]  # noqa: E731
    return {"alone": {model: rows(specs, v) for (model, specs), v in zip(pilot["alone"].items(), alone)},
            "normal KD": {key: rows(specs, best if key == (0.9, 4.0) else kd)
                          for key, specs in pilot["normal KD"].items()}}


def test_every_pilot_run_sees_the_same_5000_images_and_each_student_seed_its_own_teacher():
    pilot = chapter.tf1_pilot()
    alone = [s for specs in pilot["alone"].values() for s in specs]
    kd = [s for specs in pilot["normal KD"].values() for s in specs]
    assert len(alone) == 6 and len(kd) == 2 * len(chapter.TF1_KD_GRID) == 24
    assert {(s.train_size, s.val_size, s.subset, s.epochs, s.augment) for s in alone + kd} == {
        (5000, 5000, None, 100, "none")}
    assert all(s.model == "mlp_2x100" and s.teacher.model == "small_cnn" and s.teacher.seed == s.seed
               and s.teacher == pilot["alone"]["small_cnn"][s.seed] for s in kd)
    assert {dict(s.method_params)["temperature"] for s in kd} == {2.0, 4.0, 8.0, 20.0}
    assert sorted(s.id for s in alone + kd) == sorted(s.id for stage in chapter.pilot_stages() for s in stage())


def test_the_gates_pass_on_the_means_of_kd_chosen_on_seed_0():
    outcome = chapter.gate_outcome(_found(alone=(0.80, 0.83, 0.84), kd=0.805, best=0.815))
    assert outcome["chosen"] == {"normal KD": (0.9, 4.0)}
    teacher_gate, kd_gate = outcome["gates"].values()
    assert teacher_gate["difference"] == pytest.approx(84.1 - 80.1)  # seed means, in points
    assert kd_gate["difference"] == pytest.approx(81.6 - 80.1) and outcome["go"]


def test_a_failed_gate_names_both_accuracies_and_the_margin():
    outcome = chapter.gate_outcome(_found(kd=0.80, best=0.805))
    gate = outcome["gates"]["normal KD from the small CNN beats the MLP alone"]
    assert not gate["passed"] and not outcome["go"]
    assert "80.60 against 80.10, a difference of +0.50 points where at least +1.00 was required" in gate["message"]
    assert outcome["gates"]["the small CNN beats the MLP alone"]["passed"]


def test_the_pilot_table_lists_each_model_then_kd_by_alpha_and_tau_with_the_choice_marked():
    table = chapter.pilot_summary(_found())
    assert list(table["row"][:3]) == ["MLP alone", "LeNet-5 alone", "small CNN alone"]
    assert list(table["setting"][3:7]) == ["α 0.5, τ 2", "α 0.5, τ 4", "α 0.5, τ 8", "α 0.5, τ 20"]
    chosen = table[table["validation accuracy (%)"].str.endswith("← chosen")]
    assert list(chosen["setting"]) == ["α 0.9, τ 4"]
    assert table.loc[0, "validation accuracy (%)"] == "80.10 ± 0.14"


def _on_fashion_mnist(spec):
    """``spec`` (and its teacher) moved back to Fashion-MNIST: what a fallback on the pairs changes, undone."""
    teacher = _on_fashion_mnist(spec.teacher) if spec.teacher is not None else None
    return spec.replace(dataset="fashion_mnist", teacher=teacher)


def test_the_fallbacks_shrink_the_data_augment_every_model_or_move_to_100_classes():
    first, smaller, augmented, pairs = (chapter.tf1_pilot(t) for t in chapter.TF1_TESTBEDS)
    every = lambda pilot: [s for group in pilot.values() for specs in group.values() for s in specs]  # noqa: E731
    assert {(s.train_size, s.epochs) for s in every(smaller)} == {(2000, 250)}  # the same number of steps
    assert {(s.train_size, s.augment) for s in every(augmented)} == {(5000, "crop_flip")}
    assert not {s.id for s in every(first)} & {s.id for s in every(augmented)}
    # TF-3: TF-1's recipe, size and grid on the 100-class pairs; only the dataset differs
    assert {s.dataset for s in every(pairs)} == {"fashion_pairs"}
    assert [_on_fashion_mnist(s) for s in every(pairs)] == every(first)


def test_the_cli_pilot_walks_the_teacher_free_testbeds_and_stops_at_the_first_that_passes(monkeypatch, capsys):
    first, second, *_ = chapter.TF1_TESTBEDS
    outcomes = {first: _found(kd=0.80, best=0.80, testbed=first), second: _found(testbed=second)}
    read = []
    monkeypatch.setattr(chapter, "pilot_results", lambda train_missing=False, testbed=None: read.append(testbed)
                        or outcomes[testbed])
    assert cli.main(["pilot", "teacher_free", "--no-train"]) == 0
    assert read == [first, second]
    out = capsys.readouterr().out
    assert f"no go: {first.name} fails a gate" in out and f"go: {second.name} is the testbed" in out


def _tf1_profile(seeds=(0, 1, 2)):
    from kdlib.profiles import Profile
    return Profile("cpu", "teacher_free", (("tf1_seeds", tuple(seeds)),))


def _chooser(picks: dict):
    """A Choose whose grids all have records: validation accuracy 0.8 everywhere, 0.9 at the key ``picks`` names."""
    from kdlib.chapters import Choose
    read = []
    grids = {}

    class Picking(Choose):
        def each(self, found, alongside=()):
            grids.update(found)
            return super().each(found, alongside)

    def record(spec):
        read.append(spec.id)
        for name, grid in grids.items():
            for key, candidate in grid.items():
                if candidate.id == spec.id:
                    return {"metrics": {"val_acc": 0.9 if picks.get(name) == key else 0.8}}
        return {"metrics": {"val_acc": 0.8}}
    return Picking(record), read


def test_tf1_chooses_each_students_setting_on_its_own_grid_and_trains_seed_s_from_teacher_seed_s():
    picks = {"TF-1 normal KD (MLP)": (0.5, 8.0), "TF-1 Tf-KD_self (MLP)": (1.0, 2.0), "TF-1 Tf-KD_reg (MLP)": (0.9, 40.0),
             "TF-1 LSR (MLP)": (0.2,), "TF-1 Re-KD (small CNN)": (0.9, 20.0)}
    choose, _ = _chooser(picks)
    tf1 = chapter.plan(_tf1_profile(), choose)["testbeds"]["TF-1"]
    assert tf1["chosen"] == picks
    table = tf1["table"]
    params = lambda spec: dict(spec.method_params)  # noqa: E731
    assert all(s.seed == seed for specs in table.values() for seed, s in enumerate(specs))
    for s in table["normal KD [small CNN] (MLP)"]:
        assert (s.model, s.teacher.model, s.teacher.seed, params(s)) == (
            "mlp_2x100", "small_cnn", s.seed, {"alpha": 0.5, "temperature": 8.0})
    for s in table["Re-KD [MLP] (small CNN)"]:  # the small CNN's own setting, not the MLP's
        assert (s.model, s.teacher.model, s.teacher.seed, params(s)) == (
            "small_cnn", "mlp_2x100", s.seed, {"alpha": 0.9, "temperature": 20.0})
    for s in table["Tf-KD_self (MLP)"]:  # its own pre-trained copy, one seed on
        assert (s.teacher.model, s.teacher.seed, params(s)) == ("mlp_2x100", s.seed + 1, {"alpha": 1.0, "temperature": 2.0})
    for row, step in ((chapter.TF1_DE_KD_ROW, 40),  # one epoch of 5,000 images in batches of 128
                      ("KD from an untrained small CNN (MLP)", 1)):
        assert all(s.teacher.stop_step == step and s.teacher.seed == s.seed and params(s) == params(
            table["normal KD [small CNN] (MLP)"][0]) for s in table[row])
    assert params(table["LSR (MLP)"][0]) == {"epsilon": 0.2}
    every = [s for specs in table.values() for s in specs]
    assert {(s.train_size, s.val_size, s.subset, s.epochs) for s in every} == {(5000, 5000, None, 100)}
    assert table["MLP alone"] == [chapter.tf1_pilot()["alone"]["mlp_2x100"][0], chapter.tf1_pilot()["alone"]["mlp_2x100"][1],
                                  chapter.tf1_run("mlp_2x100", 2)]  # the pilot's runs are the table's seeds 0-1
    # each grid's chosen run is its row's seed-0 run: the setting is chosen on seed 0, no run is extra
    grids = tf1["grids"]
    for grid, row in (("TF-1 normal KD (MLP)", "normal KD [small CNN] (MLP)"), ("TF-1 Tf-KD_self (MLP)",
                      "Tf-KD_self (MLP)"), ("TF-1 Tf-KD_reg (MLP)", "Tf-KD_reg (MLP)"), ("TF-1 LSR (MLP)", "LSR (MLP)"),
                      ("TF-1 Re-KD (small CNN)", "Re-KD [MLP] (small CNN)")):
        assert grids[grid][picks[grid]] == table[row][0], grid
        assert {spec.seed for spec in grids[grid].values()} == {0}


def test_tf1_stops_at_its_grids_until_each_has_a_record_and_is_absent_without_seeds():
    from kdlib.chapters import Choose, Missing
    with pytest.raises(Missing) as missing:
        chapter.plan(_tf1_profile(), Choose(lambda spec: None))
    assert [n for n in missing.value.names if n.startswith("TF-1")] == [
        "TF-1 normal KD (MLP)", "TF-1 Tf-KD_self (MLP)", "TF-1 Tf-KD_reg (MLP)", "TF-1 LSR (MLP)",
        "TF-1 Re-KD (small CNN)"]
    ids = {s.id for s in missing.value.specs}
    assert {s.id for s in chapter.tf1_alongside(_tf1_profile())} <= ids  # every teacher trains beside the grids
    choose, _ = _chooser({})
    for profile in ("cpu", "smoke", "paper"):
        assert chapter.plan(profile, choose)["testbeds"] == {}


def _tf1_results(values: dict, seeds=range(10)):
    """TF-1's part of ``results``: hand-made records per row, test and validation accuracy ``values[row]`` + a
    seed-dependent wobble shared by every row and a smaller one of each row's own."""
    choose, _ = _chooser({})
    tf1 = chapter.plan(_tf1_profile(tuple(seeds)), choose)["testbeds"]["TF-1"]
    wobble = lambda seed: 0.001 * ((seed * 7) % 5)  # noqa: E731

    def rec(spec, value):
        v = value + wobble(spec.seed)
        return {"id": spec.id, "spec": spec.to_dict(), "metrics": {"val_acc": v, "test_acc": v}, "history": []}
    import numpy as np
    own = {row: np.random.default_rng(k).uniform(-0.0003, 0.0003, len(specs))  # at most ±0.03 points a seed
           for k, (row, specs) in enumerate(tf1["table"].items())}
    table = {row: [rec(s, values.get(row, 0.84) + own[row][i]) for i, s in enumerate(specs)]
             for row, specs in tf1["table"].items()}
    return {"dataset": "fashion_mnist", "table": table,
            "poor_teachers": [rec(s, values.get("poor teacher", 0.60)) for s in tf1["poor_teachers"]],
            "copies": [rec(s, values.get("copies", 0.84)) for s in tf1["copies"]]}


def test_tf1_claims_join_the_chapters_family_with_their_controls_and_the_random_teacher_arm():
    from kdlib import claims as kc
    values = {"MLP alone": 0.84, "small CNN alone": 0.87, "normal KD [small CNN] (MLP)": 0.855,
              "Re-KD [MLP] (small CNN)": 0.875, "Tf-KD_self (MLP)": 0.845, "Tf-KD_reg (MLP)": 0.853,
              "LSR (MLP)": 0.846, chapter.TF1_DE_KD_ROW: 0.85,
              "KD from an untrained small CNN (MLP)": 0.83, "poor teacher": 0.60}
    found = chapter.tf1_claims({"testbeds": {"TF-1": _tf1_results(values)}})
    assert [c.id for c in found] == ["C10", "C11", "C13", "C13", "C13", "C13"]
    assert all(c.setting.dataset == chapter.TF1_NAME for c in found)
    c10, c11, self_, self_kd, reg_kd, reg_lsr = found
    assert c10.comparisons[0].effect == pytest.approx(0.5, abs=0.07) and c10.comparisons[0].test == "paired"
    assert [p.holds for p in c10.preconditions] == [True, True]  # +3 points and +1.5 points on test
    assert c11.comparisons[1].label == "De-KD − KD from an untrained small CNN"
    assert c11.comparisons[1].effect == pytest.approx(2.0, abs=0.07)
    assert c11.preconditions[1].holds  # 60 % errs 40 %, at least 1.5 × the MLP's 16 %
    assert self_kd.expect == "matches" and self_kd.comparisons[0].margin == chapter.MATCH_MARGIN
    assert reg_kd.comparisons[0].effect == pytest.approx(-0.2, abs=0.07)
    kc.check_adjusted(kc.adjust(found))  # one family: every primary carries a Holm-adjusted p
    assert kc.family_size(kc.adjust(found), "teacher_free") == 8  # two p-values per claim of "matches"
    with pytest.raises(ValueError, match="Holm"):
        kc.check_adjusted(found)


def test_a_teacher_that_is_not_poorly_trained_leaves_c11_untestable_and_no_tf1_means_no_claims():
    values = {"MLP alone": 0.84, "small CNN alone": 0.87, "normal KD [small CNN] (MLP)": 0.855,
              "poor teacher": 0.80}  # errs 20 %: less than 1.5 × the MLP's 16 %
    c11 = chapter.tf1_claims({"testbeds": {"TF-1": _tf1_results(values)}})[1]
    assert not c11.preconditions[1].holds and "80.2 % against the MLP's 84.2 %" in c11.preconditions[1].evidence
    assert chapter.tf1_claims({"testbeds": {}}) == [] and chapter.tf1_claims({}) == []


def test_the_seed_plan_takes_the_larger_spread_of_the_tables_rows_and_says_when_the_cap_binds():
    import numpy as np

    from kdlib import stats
    found = _found(alone=(0.80, 0.83, 0.84), kd=0.805, best=0.815, seed_shift=0.002)
    found["alone"]["small_cnn"][1]["metrics"]["val_acc"] = 0.85  # a row with a wide spread: 84.0 and 85.0
    found["alone"]["lenet5"][1]["metrics"]["val_acc"] = 0.93  # LeNet-5 is not in TF-1's table: its spread is ignored
    plan = chapter.tf1_seed_plan(found)
    assert plan["paired sd"] == pytest.approx(0.0, abs=1e-9)  # every row moves by the same 0.2 points from seed 0 to 1
    assert plan["row sd × √2"] == pytest.approx(np.sqrt(2) * np.std([84.0, 85.0], ddof=1))
    assert plan["level"] == pytest.approx(0.05 / 16)
    assert plan["higher"] == stats.seeds_for_power(0.5, plan["sd"], 0.05 / 16, cap=20)
    assert plan["matches"] == stats.seeds_for_power(0.5, plan["sd"], 0.05 / 16, cap=20, equivalence=True)
    assert plan["capped"] == {"higher": True, "matches": True}  # an sd of 1 point at 0.05/16 needs more than 20
    assert plan["uncapped"]["higher"] > 20 and stats.planned_power(0.5, plan["sd"], plan["uncapped"]["higher"],
                                                                   0.05 / 16) >= 0.8
    assert plan["seeds"] == 20
    found["normal KD"][(0.9, 4.0)][1]["metrics"]["val_acc"] = None  # the chosen KD cell diverged at seed 1
    with pytest.raises(ValueError, match="fewer than two finite values"):
        chapter.tf1_seed_plan(found)


def test_tf1_family_size_is_the_constant_the_seed_plan_uses(monkeypatch):
    """TF1_FAMILY must equal the paper's family once TF-1 joins: the first edition's claims from the committed records
    and TF-1's 8 p-values."""
    from pathlib import Path

    from kdlib import claims as kc
    monkeypatch.setenv("KDLIB_RESULTS", str(Path(__file__).resolve().parent.parent / "results"))  # read only
    first = chapter.claims(chapter.results("cpu", train_missing=False))
    values = {"MLP alone": 0.84, "small CNN alone": 0.87, "normal KD [small CNN] (MLP)": 0.855}
    tf1 = chapter.tf1_claims({"testbeds": {"TF-1": _tf1_results(values)}})
    assert kc.family_size(kc.adjust([*first, *tf1]), "teacher_free") == chapter.TF1_FAMILY

def test_the_testbed_table_and_numbers_show_every_testbed_tried_and_which_one_passed(monkeypatch):
    first, second, third, pairs = chapter.TF1_TESTBEDS
    records = {first: _found(kd=0.80, best=0.8035, testbed=first), second: _found(alone=(0.80, 0.81, 0.815),
                                                                                  testbed=second),
               third: _found(testbed=third)}
    read = []
    monkeypatch.setattr(chapter, "pilot_results",
                        lambda train_missing=False, testbed=None: read.append(testbed) or records[testbed])
    overview = chapter.testbed_overview("cpu")
    assert read == [first, second, third] and [found is None for _, found in overview] == [False] * 3 + [True]
    table = chapter.testbed_table(overview)
    assert list(table["outcome"]) == ["failed a gate", "failed a gate", "passed: the chapter's testbed",
                                      "not run: an earlier testbed passed"]
    assert list(table["small CNN − MLP alone (validation, points; gate ≥ 2)"]) == ["+4.00", "+1.50", "+4.00", "–"]
    assert list(table["normal KD − MLP alone (validation, points; gate ≥ 1)"]) == ["+0.35", "+2.50", "+2.50", "–"]
    numbers = chapter.testbed_numbers(overview)
    assert numbers["tf1_tried"] == "3" and numbers["tf1_chosen"] == third.name
    assert (numbers["tf1_0_kd"], numbers["tf1_1_teacher"]) == ("+0.35", "+1.50")
    assert chapter.testbed_overview("smoke") == [] and chapter.testbed_numbers([])["tf1_chosen"] == "none"


def test_the_page_glues_only_tf1_numbers_the_chapter_computes_at_every_profile():
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parent.parent / "notebooks" / "03_teacher_free.py").read_text()
    used = set(re.findall(r"\{glue:text\}`(tf1_\w+)`", page))
    assert used == {"tf1_teacher_gate", "tf1_kd_gate", "tf1_tried", "tf1_outcome"}
    assert used <= set(chapter.testbed_numbers([]))  # a profile without pilots still glues every one
    assert chapter.testbed_numbers([])["tf1_outcome"] == "no pilot was run at this profile"
