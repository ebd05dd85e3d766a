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


def test_the_fallbacks_shrink_the_data_or_augment_every_model():
    first, smaller, augmented = (chapter.tf1_pilot(t) for t in chapter.TF1_TESTBEDS)
    every = lambda pilot: [s for group in pilot.values() for specs in group.values() for s in specs]  # noqa: E731
    assert {(s.train_size, s.epochs) for s in every(smaller)} == {(2000, 250)}  # the same number of steps
    assert {(s.train_size, s.augment) for s in every(augmented)} == {(5000, "crop_flip")}
    assert not {s.id for s in every(first)} & {s.id for s in every(augmented)}


def test_the_cli_pilot_walks_the_teacher_free_testbeds_and_stops_at_the_first_that_passes(monkeypatch, capsys):
    first, second, third = chapter.TF1_TESTBEDS
    outcomes = {first: _found(kd=0.80, best=0.80, testbed=first), second: _found(testbed=second)}
    read = []
    monkeypatch.setattr(chapter, "pilot_results", lambda train_missing=False, testbed=None: read.append(testbed)
                        or outcomes[testbed])
    assert cli.main(["pilot", "teacher_free", "--no-train"]) == 0
    assert read == [first, second]
    out = capsys.readouterr().out
    assert f"no go: {first.name} fails a gate" in out and f"go: {second.name} is the testbed" in out
