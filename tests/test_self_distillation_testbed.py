"""The self-distillation chapter's second testbed (SD-1): its pilot's runs and gates, fixed before their records, read
on hand-made records."""

from __future__ import annotations

import pytest

from kdlib import cli
from kdlib.chapters import self_distillation as chapter

SD1, SMALLER, AUGMENTED, GRID, PAIRS = chapter.SD1_TESTBEDS
# SD-1's six pilot specs, by row and seed: their ids pin every field (a changed spec is a new id, and a new pilot)
PILOT_IDS = {"plain network": ["6ad994c37a6c", "6268d96d60a3"], "exit 1 path alone": ["e21b2fc63bfc", "a0e8f453bc79"],
             "exit 1 path, KD from the plain network": ["c063dab11c31", "c7404371e476"]}
ROWS = list(PILOT_IDS)


def _record(spec, val):
    return {"id": spec.id, "spec": spec.to_dict(), "metrics": {"val_acc": val, "test_acc": val}}


def _found(plain=0.88, alone=0.855, kd=0.867, seed_shift=0.002, testbed=SD1, grid=None):
    """Pilot records at these validation accuracies, seed 1 ``seed_shift`` above seed 0 (a value per seed if a pair
    is given), shaped as ``pilot_results`` returns them; ``grid`` gives each KD cell's seed-0 accuracy (the chosen
    cell's seeds then follow ``kd``)."""
    values = dict(zip(ROWS, (plain, alone, kd)))

    def at(value, spec):
        return value[spec.seed] if isinstance(value, tuple) else value + seed_shift * spec.seed
    cells = chapter.sd1_pilot(testbed)["KD grid, seed 0"]
    grid = grid or {cell: at(kd, spec) for cell, spec in cells.items()}
    grid_records = {cell: _record(spec, grid[cell]) for cell, spec in cells.items()}
    chosen = chapter._chosen(grid_records)
    pilot = chapter.sd1_pilot(testbed, chosen)
    found = {row: [_record(spec, at(values[row], spec)) for spec in pilot[row]] for row in ROWS}
    return {**found, "KD grid, seed 0": grid_records, "chosen": chosen}


def test_the_pilot_is_seeds_0_and_1_of_the_plain_network_the_exit_1_path_and_kd_from_the_same_seed_network():
    pilot = chapter.sd1_pilot()
    assert {row: [spec.id for spec in pilot[row]] for row in ROWS} == PILOT_IDS
    assert list(pilot["KD grid, seed 0"].values()) == pilot[chapter.KD_ROW][:1]  # one cell: the two-stage rows'
    every = [spec for row in ROWS for spec in pilot[row]]
    # every network sees the same 5,000 images, validates on the fixed 5,000 and is tested on all 10,000 (no subset)
    assert {(s.dataset, s.train_size, s.val_size, s.subset, s.augment, s.epochs, s.eval_every, s.batch_size)
            for s in every} == {("fashion_mnist", 5000, 5000, None, "none", 30, 3, 128)}
    assert {(s.optimizer, s.lr, s.schedule) for s in every} == {("sgd", 0.1, "warmup_cosine")}
    assert [(s.model, s.seed, s.method) for s in every] == [
        ("resnet10_narrow", 0, "ce"), ("resnet10_narrow", 1, "ce"), ("resnet10_narrow_exit1_iccv", 0, "ce"),
        ("resnet10_narrow_exit1_iccv", 1, "ce"), ("resnet10_narrow_exit1_iccv", 0, "kd"),
        ("resnet10_narrow_exit1_iccv", 1, "kd")]
    for kd, teacher in zip(pilot["exit 1 path, KD from the plain network"], pilot["plain network"]):
        assert kd.teacher == teacher and kd.teacher.seed == kd.seed  # the same-seed plain network teaches
        assert dict(kd.method_params) == {"alpha": 0.3, "temperature": 3.0} == dict(chapter.KD_PARAMS)
    assert [s.id for stage in chapter.pilot_stages() for s in stage()] == [s.id for s in every]
    assert chapter.pilot_testbeds() == chapter.SD1_TESTBEDS


def test_the_fallbacks_train_on_2000_images_for_60_epochs_or_add_the_papers_crops_and_flips():
    assert {(s.train_size, s.epochs, s.eval_every, s.augment) for row in ROWS
            for s in chapter.sd1_pilot(SMALLER)[row]} == {(2000, 60, 6, "none")}
    augmented = chapter.sd1_pilot(AUGMENTED)
    assert {(s.train_size, s.epochs, s.eval_every, s.augment) for row in ROWS for s in augmented[row]} == {
        (5000, 30, 3, "crop_flip")}
    assert all(kd.teacher.augment == "crop_flip" for kd in augmented["exit 1 path, KD from the plain network"])


def test_the_gates_read_the_means_over_the_pilots_seeds_on_validation():
    found = _found(plain=(0.885, 0.865), alone=(0.84, 0.86), kd=(0.845, 0.885))
    outcome = chapter.gate_outcome(found)
    teacher_gate, kd_gate = (outcome["gates"][gate.name] for gate in chapter.SD1_GATES)
    assert teacher_gate["difference"] == pytest.approx((88.5 + 86.5) / 2 - (84 + 86) / 2)  # +2.5; seed 1 alone +0.5
    assert kd_gate["difference"] == pytest.approx((84.5 + 88.5) / 2 - 85.0)  # +1.5; seed 0 alone +0.5
    assert teacher_gate["passed"] and kd_gate["passed"] and outcome["go"]
    test_only = {**found, **{row: [{**r, "metrics": {"val_acc": 0.85, "test_acc": r["metrics"]["val_acc"]}}
                                   for r in found[row]] for row in ROWS}}
    assert not chapter.gate_outcome(test_only)["go"]  # the test set decides nothing


@pytest.mark.parametrize("plain, kd, failed, message", [
    (0.87, 0.867, "the plain network beats the exit-1 path alone",
     "87.10 against 85.60, a difference of +1.50 points where at least +2.00 was required"),
    (0.88, 0.86, "KD from the same-seed plain network into the exit-1 path beats that path alone",
     "86.10 against 85.60, a difference of +0.50 points where at least +1.00 was required"),
])
def test_each_gate_fails_alone_and_names_both_accuracies_and_its_margin(plain, kd, failed, message):
    outcome = chapter.gate_outcome(_found(plain=plain, kd=kd))
    assert not outcome["go"]
    assert {name for name, gate in outcome["gates"].items() if not gate["passed"]} == {failed}
    assert message in outcome["gates"][failed]["message"]


def test_the_pilot_table_lists_the_three_rows_on_validation():
    table = chapter.pilot_summary(_found())
    assert list(table["row"]) == ROWS
    assert list(table["KD setting"]) == ["–", "–", "α 0.3, T 3"]
    assert list(table["validation accuracy (%)"]) == ["88.10 ± 0.14", "85.60 ± 0.14", "86.80 ± 0.14"]


def test_the_walk_stops_at_the_first_testbed_that_passes_and_the_page_says_what_follows(monkeypatch):
    records = {SD1: _found(kd=0.86, testbed=SD1), SMALLER: _found(testbed=SMALLER)}
    read = []
    monkeypatch.setattr(chapter, "pilot_results",
                        lambda train_missing=False, testbed=None: read.append(testbed) or records[testbed])
    overview = chapter.testbed_overview("cpu")
    assert read == [SD1, SMALLER] and [found is None for _, found in overview] == [False, False, True, True, True]
    table = chapter.testbed_table(overview)
    assert list(table["outcome"]) == ["failed a gate", "passed: the chapter's testbed",
                                      *["not run: an earlier testbed passed"] * 3]
    assert list(table["plain network − exit-1 path alone (validation, points; gate ≥ 2)"]) == [
        "+2.50", "+2.50", "–", "–", "–"]
    assert list(table["KD − exit-1 path alone (validation, points; gate ≥ 1)"]) == ["+0.50", "+1.20", "–", "–", "–"]
    assert chapter.testbed_overview("smoke") == []
    numbers = chapter.testbed_numbers(overview)
    assert (numbers["sd1_tried"], numbers["sd1_chosen"]) == ("SD-1; SD-1, fallback (i)", "SD-1, fallback (i)")
    assert numbers["sd1_outcome"].startswith("SD-1, fallback (i) passed both gates")
    failed = chapter.testbed_numbers([(SD1, _found(kd=0.86)), (SMALLER, _found(plain=0.86, testbed=SMALLER))])
    assert failed["sd1_chosen"] == "none" and failed["sd1_outcome"].startswith("none passed")
    assert chapter.testbed_numbers([])["sd1_outcome"] == "no pilot was run at this profile"


def test_the_cli_trains_the_self_distillation_pilot_through_the_executor_and_exits_3_when_every_testbed_fails(
        monkeypatch, capsys):
    listed = []

    def train(stages, args):  # what the executor would be handed, in place of training it
        listed.append([spec.id for stage in stages for spec in stage()])
        return 0
    monkeypatch.setattr(cli, "_train", train)
    monkeypatch.setattr(chapter, "pilot_results",
                        lambda train_missing=False, testbed=None: _found(kd=0.86, testbed=testbed))
    # the seed-0 grid's records, as the second stage reads them: α 0.9, T 6 ends best on validation
    params = lambda spec: dict(spec.method_params)  # noqa: E731
    monkeypatch.setattr("kdlib.runs.current_record", lambda spec: {"metrics": {
        "val_acc": 0.8 + params(spec)["alpha"] / 10 + params(spec)["temperature"] / 1000}})
    assert cli.main(["pilot", "self_distillation"]) == 3
    assert listed[:3] == [[s.id for row in ROWS for s in chapter.sd1_pilot(t)[row]] for t in (SD1, SMALLER, AUGMENTED)]
    grid = chapter.sd1_pilot(GRID)
    best = chapter.sd1_pilot(GRID, (0.9, 6.0))[chapter.KD_ROW]
    assert listed[3] == [s.id for s in (*grid["plain network"], *grid["exit 1 path alone"],
                                        *grid["KD grid, seed 0"].values(), *best)]
    assert best[0] == grid["KD grid, seed 0"][(0.9, 6.0)] and best[1].seed == best[1].teacher.seed == 1
    assert listed[4] == [s.id for row in ROWS for s in chapter.sd1_pilot(PAIRS)[row]] and len(listed) == 5
    out = capsys.readouterr().out
    assert f"--- SD-1: {SD1.why}" in out and "no go: every testbed and fallback failed a gate" in out


def test_the_pages_sd1_section_glues_the_testbed_numbers_and_nothing_else_of_sd1():
    import re
    from pathlib import Path

    page = (Path(__file__).parent.parent / "notebooks" / "04_self_distillation.py").read_text()
    assert set(re.findall(r"\{glue:text\}`(sd1_\w+)`", page)) == set(chapter.testbed_numbers([])) - {"sd1_chosen"}


def test_fallback_iii_chooses_kd_on_seed_0s_validation_from_its_3_by_3_grid_and_reuses_fallback_ii_networks():
    pilot = chapter.sd1_pilot(GRID)
    assert chapter.KD_ROW not in pilot  # the cell is not known before the seed-0 grid's records
    assert list(pilot["KD grid, seed 0"]) == [(a, t) for a in (0.3, 0.6, 0.9) for t in (1.0, 3.0, 6.0)]
    augmented = chapter.sd1_pilot(AUGMENTED)
    for row in ROWS[:2]:  # the same specs, so (ii)'s records serve (iii)
        assert [s.id for s in pilot[row]] == [s.id for s in augmented[row]]
    # (ii)'s one KD setting is (iii)'s centre cell
    assert pilot["KD grid, seed 0"][(0.3, 3.0)] == augmented[chapter.KD_ROW][0]
    grid = {cell: 0.83 for cell in pilot["KD grid, seed 0"]} | {(0.6, 1.0): 0.85, (0.9, 6.0): 0.84}
    found = _found(plain=0.88, alone=0.83, kd=0.845, seed_shift=0.0, testbed=GRID, grid=grid)
    assert found["chosen"] == (0.6, 1.0)
    outcome = chapter.gate_outcome(found)
    assert outcome["chosen"] == (0.6, 1.0)
    assert [dict(s["spec"]["method_params"]) for s in outcome["rows"][chapter.KD_ROW]] == [
        {"alpha": 0.6, "temperature": 1.0}] * 2
    table = chapter.pilot_summary(found)
    assert list(table["row"]) == ROWS + ["KD into the path, seed 0 only"] * 9
    assert list(table["KD setting"])[2] == "α 0.6, T 1"
    marked = [value for value in table["validation accuracy (%)"] if value.endswith("← chosen")]
    assert marked == ["85.00 ← chosen"]


def test_fallback_iv_is_fallback_ii_on_the_100_class_pairs_with_kd_at_the_cell_iii_chose():
    pairs, augmented = chapter.sd1_pilot(PAIRS), chapter.sd1_pilot(AUGMENTED)
    assert list(pairs["KD grid, seed 0"]) == [(0.9, 1.0)]  # no grid: the cell (iii) chose on validation
    for row in ROWS:
        assert {s.dataset for s in pairs[row]} == {"fashion_pairs"}
        assert [(s.model, s.seed, s.train_size, s.epochs, s.augment) for s in pairs[row]] == [
            (s.model, s.seed, s.train_size, s.epochs, s.augment) for s in augmented[row]]
    assert all(kd.teacher == plain and dict(kd.method_params) == {"alpha": 0.9, "temperature": 1.0}
               for kd, plain in zip(pairs[chapter.KD_ROW], pairs["plain network"]))


def test_the_grid_pilots_records_are_read_and_the_kd_cell_chosen_on_seed_0s_validation_only(monkeypatch):
    pilot = chapter.sd1_pilot(GRID)
    # seed 0's grid on validation: α 0.6, T 3 is best; on test α 0.3, T 1 would be (the test set decides nothing)
    val = {cell: 0.83 for cell in pilot["KD grid, seed 0"]} | {(0.6, 3.0): 0.85}
    test = {cell: 0.83 for cell in pilot["KD grid, seed 0"]} | {(0.3, 1.0): 0.90}
    by_id = {spec.id: cell for cell, spec in pilot["KD grid, seed 0"].items()}
    read = []

    def stored(spec, train_missing, device, progress):
        read.append(spec.id)
        cell = by_id.get(spec.id)
        metrics = ({"val_acc": val[cell], "test_acc": test[cell]} if cell else {"val_acc": 0.84, "test_acc": 0.84})
        return {"id": spec.id, "spec": spec.to_dict(), "metrics": metrics}
    monkeypatch.setattr(chapter, "get_or_train", stored)
    found = chapter.pilot_results(testbed=GRID)
    assert found["chosen"] == (0.6, 3.0)
    assert [r["id"] for r in found[chapter.KD_ROW]] == [s.id for s in chapter.sd1_pilot(GRID, (0.6, 3.0))[
        chapter.KD_ROW]]
    assert set(by_id) <= set(read)  # every cell of the grid was read, none trained here
