"""The Rocket chapter's second testbed (R-1): its schedule, its MLP pair, its pilot's runs and gates fixed before their
records."""

from __future__ import annotations

import math

import pytest

from kdlib.optim import learning_rate
from kdlib.spec import RunSpec
from kdlib.train import train


# --- the schedule: Adam 1e-3, ×0.2 at 50 % and at 75 % of training -------------------------------------------------

def test_step5_50_75_multiplies_the_rate_by_0_2_at_half_and_three_quarters_of_the_steps():
    total = 60 * math.ceil(10_000 / 128)  # 60 epochs of 79 batches = 4,740 steps; the steps at 2,370 and 3,555
    by_hand = {0: 1e-3, 1000: 1e-3, 2369: 1e-3, 2370: 1e-3 * 0.2, 3000: 2e-4, 3554: 2e-4, 3555: 1e-3 * 0.2 * 0.2,
               4739: 4e-5}
    for step, rate in by_hand.items():
        assert learning_rate("step5_50_75", 1e-3, step / total) == pytest.approx(rate, rel=1e-12), step


def test_the_trainer_sets_each_epochs_rate_from_step5_50_75(tiny):
    """240 synthetic images less 40 for validation, batches of 50: 4 steps an epoch, 16 in all. The last step of
    epoch e is step 4e − 1, at 3/16, 7/16, 11/16 and 15/16 of training."""
    spec = RunSpec("mnist", "mlp_2x100", optimizer="adam", lr=1e-3, weight_decay=0.0, schedule="step5_50_75",
                   epochs=4, batch_size=50, val_size=40)
    history = train(spec, tiny, progress="off").history
    assert [row["step"] for row in history] == [4, 8, 12, 16]
    assert [row["lr"] for row in history] == pytest.approx([1e-3, 1e-3, 2e-4, 4e-5], rel=1e-12)


# --- the ads-style MLP pair (the paper's Table 5 design) -----------------------------------------------------------

import torch  # noqa: E402
from torch import nn  # noqa: E402

from kdlib import runs  # noqa: E402
from kdlib.methods import get_method, resolve_params  # noqa: E402
from kdlib.methods.rocket import hint_gradient_norms, mlp_pair  # noqa: E402
from kdlib.models import build_model, count_parameters, evaluation_heads, size_metrics, training_outputs  # noqa: E402
from kdlib.train import inherit_weights  # noqa: E402

FMNIST = (1, 28, 28)
# Parameters by hand (weights + biases): the bottom 784→256, the light towers 256→64→10 and 256→32→10, the booster's
# 256→1024→1024→10
BOTTOM = 784 * 256 + 256
LIGHT_TOWER = {64: 256 * 64 + 64 + 64 * 10 + 10, 32: 256 * 32 + 32 + 32 * 10 + 10}
BOOSTER_TOWER = 256 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 10 + 10


def _mlp_pair(width: int = 64, sharing: str = "bottom", shape=FMNIST):
    torch.manual_seed(0)
    return build_model(f"rocket_mlp_{width}_1024_{sharing}", shape, 10)


@pytest.mark.parametrize("width", [64, 32])
def test_the_mlp_nets_have_the_parameters_counted_by_hand(width):
    assert BOTTOM + LIGHT_TOWER[64] == 218_058 and BOTTOM + BOOSTER_TOWER == 1_523_978  # the hand count, summed
    assert count_parameters(build_model(f"mlp_256_{width}", FMNIST, 10)) == BOTTOM + LIGHT_TOWER[width]
    assert count_parameters(build_model("mlp_256_1024x2_drop20", FMNIST, 10)) == BOTTOM + BOOSTER_TOWER
    shared = _mlp_pair(width)
    assert count_parameters(shared) == BOTTOM + LIGHT_TOWER[width] + BOOSTER_TOWER  # the bottom counted once
    assert size_metrics(shared) == {"n_params_light": BOTTOM + LIGHT_TOWER[width]}
    separate = _mlp_pair(width, "none")
    assert count_parameters(separate) == 2 * BOTTOM + LIGHT_TOWER[width] + BOOSTER_TOWER
    assert size_metrics(separate) == {"n_params_light": BOTTOM + LIGHT_TOWER[width]}


@pytest.mark.parametrize("sharing", ["bottom", "none"])
def test_the_mlp_pair_gives_the_trainer_both_nets_outputs_and_heads(sharing):
    pair = _mlp_pair(sharing=sharing).eval()
    x = torch.randn(5, *FMNIST)
    outputs = training_outputs(pair, x)
    heads = evaluation_heads(pair, x)
    assert set(outputs) == {"logits", "booster_logits"} and set(heads) == {"", "booster"}
    assert all(value.shape == (5, 10) for value in [*outputs.values(), *heads.values()])
    assert torch.equal(heads[""], outputs["logits"]) and torch.equal(heads["booster"], outputs["booster_logits"])


def test_the_bottom_is_one_tensor_that_both_nets_run():
    pair = _mlp_pair().eval()
    roles = pair.parameter_roles()
    ids = [id(p) for params in roles.values() for p in params]
    assert len(ids) == len(set(ids)) == len(list(pair.parameters()))
    bottom = pair.booster.bottom[1]
    assert [p.shape for p in roles["shared"]] == [(256, 784), (256,)]
    assert roles["shared"][0] is bottom.weight and roles["shared"][1] is bottom.bias
    x = torch.randn(4, *FMNIST)
    light, booster = pair.forward_both(x)
    with torch.no_grad():  # scaling the one bottom weight moves both nets
        bottom.weight.mul_(2.0)
    light_after, booster_after = pair.forward_both(x)
    assert not torch.allclose(light, light_after) and not torch.allclose(booster, booster_after)
    with torch.no_grad():  # the light tower is the light net's alone
        pair.light_tower[0].weight.mul_(2.0)
    assert torch.equal(pair.forward_both(x)[1], booster_after)


def test_gradient_block_leaves_the_booster_tower_only_its_own_cross_entropy():
    pair = _mlp_pair().train()
    x, labels = torch.randn(16, *FMNIST), torch.arange(16) % 10
    tower = list(pair.booster.tower.parameters())
    for grad_block, blocked in ((1.0, True), (0.0, False)):
        light, booster = pair.forward_both(x)
        terms = get_method("rocket").loss(light, labels, booster,
                                          **resolve_params("rocket", {"grad_block": grad_block, "lam": 0.03}))
        whole = torch.autograd.grad(terms["loss"], tower, retain_graph=True)
        own = torch.autograd.grad(terms["ce_booster"], tower, retain_graph=True)
        light_terms = torch.autograd.grad(terms["ce_light"] + 0.03 * terms["hint"], tower, allow_unused=True,
                                          retain_graph=True)
        if blocked:  # the light net's CE and the hint send the booster's tower nothing: no path at all
            assert all(g is None for g in light_terms)
            assert all(torch.equal(a, b) for a, b in zip(whole, own))
        else:
            assert any(g is not None and g.abs().sum() > 0 for g in light_terms)
    on = hint_gradient_norms(pair, x, labels, 1.0)
    off = hint_gradient_norms(pair, x, labels, 0.0)
    assert on["booster"] == 0.0 and on["shared"] > 0 and on["light"] > 0 and off["booster"] > 0


def test_dropout_is_in_the_booster_tower_only_and_acts_only_in_training():
    pair = _mlp_pair()
    dropouts = {name: module.p for name, module in pair.named_modules() if isinstance(module, nn.Dropout)}
    assert dropouts == {"booster.tower.2": 0.2, "booster.tower.5": 0.2}
    x = torch.randn(32, *FMNIST)
    for mode, booster_varies in ((pair.train, True), (pair.eval, False)):
        mode()
        (light_a, booster_a), (light_b, booster_b) = pair.forward_both(x), pair.forward_both(x)
        assert torch.equal(light_a, light_b) and torch.equal(pair(x), light_a)
        assert torch.equal(booster_a, booster_b) != booster_varies
    booster_alone, light_alone = (build_model(name, FMNIST, 10).train() for name in ("mlp_256_1024x2_drop20",
                                                                                    "mlp_256_64"))
    assert not torch.equal(booster_alone(x), booster_alone(x)) and torch.equal(light_alone(x), light_alone(x))
    assert not any(isinstance(module, nn.Dropout) for module in light_alone.modules())


def test_interval_sharing_is_refused_for_the_mlp_pair_with_the_fix():
    with pytest.raises(ValueError, match=r"an MLP pair has no interval sharing.*use sharing='bottom'.*"
                                         r"rocket_10_16_1_interval"):
        mlp_pair(FMNIST, 10, 64, "interval")
    with pytest.raises(ValueError, match="unknown sharing scheme 'middle' for an MLP pair; choose one of: bottom"):
        mlp_pair(FMNIST, 10, 64, "middle")


def test_no_joint_training_would_start_the_light_net_from_the_boosters_bottom_only():
    booster, light = build_model("mlp_256_1024x2_drop20", FMNIST, 10), build_model("mlp_256_64", FMNIST, 10)
    assert inherit_weights(light, booster.state_dict()) == ["bottom.1.weight", "bottom.1.bias"]
    assert torch.equal(light.bottom[1].weight, booster.bottom[1].weight)


def test_the_mlp_pair_trains_with_the_rocket_method_and_records_both_nets(tiny):
    spec = RunSpec("mnist", "rocket_mlp_64_1024_bottom", method="rocket", optimizer="adam", lr=1e-3,
                   weight_decay=0.0, epochs=2, batch_size=32, val_size=40)
    record = runs.get_or_train(spec, progress="off")
    metrics = record["metrics"]
    light = (64 * 256 + 256) + (256 * 64 + 64 + 64 * 3 + 3)  # the synthetic images are 8×8, in 3 classes
    assert metrics["n_params_light"] == light < metrics["n_params"]
    assert metrics["test_acc"] > 0.5 and metrics["booster_test_acc"] > 0.5
    assert {"train_ce_light", "train_ce_booster", "train_hint", "booster_val_acc"} <= set(record["history"][-1])


# --- R-1's pilot and its gates, on hand-made records ---------------------------------------------------------------

from kdlib import cli  # noqa: E402
from kdlib.chapters import rocket_launching as chapter  # noqa: E402

R1, SMALLER, NARROWER, PAIRS = chapter.R1_TESTBEDS
# R-1's six pilot specs, by row and seed: their ids pin every field (a changed spec is a new id, and a new pilot)
PILOT_IDS = {"light alone": ["95d3cffd80f1", "fd91ed1c053e"], "booster alone": ["cf494d2d52ce", "c54c3ffc2f32"],
             "KD from the booster": ["2f1b465113d8", "68403699279e"]}


def _record(spec, val):
    return {"id": spec.id, "spec": spec.to_dict(), "metrics": {"val_acc": val, "test_acc": val}}


def _found(light=0.85, booster=0.875, kd=0.862, seed_shift=0.002, testbed=R1):
    """Pilot records at these validation accuracies, seed 1 ``seed_shift`` above seed 0 (a value per seed if a
    pair is given)."""
    values = {"light alone": light, "booster alone": booster, "KD from the booster": kd}

    def at(value, spec):
        return value[spec.seed] if isinstance(value, tuple) else value + seed_shift * spec.seed
    return {row: [_record(spec, at(values[row], spec)) for spec in specs]
            for row, specs in chapter.r1_pilot(testbed).items()}


def test_the_pilot_is_seeds_0_and_1_of_each_net_alone_and_kd_from_the_same_seed_booster():
    pilot = chapter.r1_pilot()
    assert {row: [spec.id for spec in specs] for row, specs in pilot.items()} == PILOT_IDS
    every = [spec for specs in pilot.values() for spec in specs]
    assert {(s.dataset, s.train_size, s.val_size, s.subset, s.augment, s.epochs, s.eval_every, s.batch_size)
            for s in every} == {("fashion_mnist", 10_000, 5000, None, "none", 60, 6, 128)}
    assert {(s.optimizer, s.lr, s.schedule, s.weight_decay) for s in every} == {("adam", 1e-3, "step5_50_75", 0.0)}
    assert [(s.model, s.seed, s.method) for s in every] == [
        ("mlp_256_64", 0, "ce"), ("mlp_256_64", 1, "ce"), ("mlp_256_1024x2_drop20", 0, "ce"),
        ("mlp_256_1024x2_drop20", 1, "ce"), ("mlp_256_64", 0, "kd"), ("mlp_256_64", 1, "kd")]
    for kd, booster in zip(pilot["KD from the booster"], pilot["booster alone"]):
        assert kd.teacher == booster and kd.teacher.seed == kd.seed  # the same-seed booster alone teaches
        assert dict(kd.method_params) == {"alpha": 0.9, "temperature": 4.0} == dict(chapter.KD_PARAMS)
    assert [s.id for stage in chapter.pilot_stages() for s in stage()] == [s.id for s in every]
    assert chapter.pilot_testbeds() == chapter.R1_TESTBEDS


def test_the_fallbacks_halve_the_data_at_the_same_image_passes_or_narrow_the_light_tower():
    def fields(testbed):
        return {(s.train_size, s.epochs, s.eval_every, s.model) for specs in chapter.r1_pilot(testbed).values()
                for s in specs}
    assert fields(SMALLER) == {(5000, 120, 12, "mlp_256_64"), (5000, 120, 12, "mlp_256_1024x2_drop20")}
    assert SMALLER.train_size * SMALLER.epochs == R1.train_size * R1.epochs == 600_000
    narrow = chapter.r1_pilot(NARROWER)
    assert fields(NARROWER) == {(10_000, 60, 6, "mlp_256_32"), (10_000, 60, 6, "mlp_256_1024x2_drop20")}
    # its boosters (and so its KD teachers) are R-1's own runs: only the light nets are new
    assert [s.id for s in narrow["booster alone"]] == PILOT_IDS["booster alone"]
    assert [s.teacher.id for s in narrow["KD from the booster"]] == PILOT_IDS["booster alone"]


def _on_fashion_mnist(spec):
    """``spec`` (and its teacher) moved back to Fashion-MNIST: what a fallback on the pairs changes, undone."""
    teacher = _on_fashion_mnist(spec.teacher) if spec.teacher is not None else None
    return spec.replace(dataset="fashion_mnist", teacher=teacher)


def test_fallback_iii_is_r1_on_the_100_class_pairs_with_every_other_field_unchanged():
    pairs, first = chapter.r1_pilot(PAIRS), chapter.r1_pilot(R1)
    for row in first:
        assert {s.dataset for s in pairs[row]} == {"fashion_pairs"}
        assert [_on_fashion_mnist(s) for s in pairs[row]] == first[row]
    assert [s.teacher for s in pairs["KD from the booster"]] == pairs["booster alone"]  # the pairs' own boosters


def test_the_gates_read_the_means_over_the_pilots_seeds_on_validation():
    found = _found(light=(0.84, 0.86), booster=(0.885, 0.865), kd=(0.845, 0.885))
    outcome = chapter.gate_outcome(found)
    booster_gate, kd_gate = (outcome["gates"][gate.name] for gate in chapter.R1_GATES)
    assert booster_gate["difference"] == pytest.approx((88.5 + 86.5) / 2 - (84 + 86) / 2)  # +2.5; seed 1 alone +0.5
    assert kd_gate["difference"] == pytest.approx((84.5 + 88.5) / 2 - 85.0)  # +1.5; seed 0 alone +0.5
    assert booster_gate["passed"] and kd_gate["passed"] and outcome["go"]
    test_only = {row: [{**r, "metrics": {"val_acc": 0.85, "test_acc": r["metrics"]["val_acc"]}} for r in records]
                 for row, records in found.items()}
    assert not chapter.gate_outcome(test_only)["go"]  # the test set decides nothing


@pytest.mark.parametrize("booster, kd, failed, message", [
    (0.865, 0.862, "the booster alone beats the light net alone",
     "86.60 against 85.10, a difference of +1.50 points where at least +2.00 was required"),
    (0.875, 0.855, "KD from the same-seed booster beats the light net alone",
     "85.60 against 85.10, a difference of +0.50 points where at least +1.00 was required"),
])
def test_each_gate_fails_alone_and_names_both_accuracies_and_its_margin(booster, kd, failed, message):
    outcome = chapter.gate_outcome(_found(booster=booster, kd=kd))
    assert not outcome["go"]
    assert {name for name, gate in outcome["gates"].items() if not gate["passed"]} == {failed}
    assert message in outcome["gates"][failed]["message"]


def test_the_pilot_table_lists_the_three_rows_on_validation():
    table = chapter.pilot_summary(_found())
    assert list(table["row"]) == ["light alone", "booster alone", "KD from the booster"]
    assert list(table["validation accuracy (%)"]) == ["85.10 ± 0.14", "87.60 ± 0.14", "86.30 ± 0.14"]


def test_the_walk_stops_at_the_first_testbed_that_passes_and_the_table_shows_each_tried(monkeypatch):
    records = {R1: _found(kd=0.855, testbed=R1), SMALLER: _found(testbed=SMALLER), NARROWER: _found(testbed=NARROWER)}
    read = []
    monkeypatch.setattr(chapter, "pilot_results",
                        lambda train_missing=False, testbed=None: read.append(testbed) or records[testbed])
    overview = chapter.testbed_overview("cpu")
    assert read == [R1, SMALLER] and [found is None for _, found in overview] == [False, False, True, True]
    table = chapter.testbed_table(overview)
    assert list(table["testbed"]) == ["R-1", "R-1, fallback (i)", "R-1, fallback (ii)", "R-1, fallback (iii)"]
    assert list(table["outcome"]) == ["failed a gate", "passed: the chapter's testbed",
                                      "not run: an earlier testbed passed", "not run: an earlier testbed passed"]
    assert list(table["booster − light net alone (validation, points; gate ≥ 2)"]) == ["+2.50", "+2.50", "–", "–"]
    assert list(table["KD − light net alone (validation, points; gate ≥ 1)"]) == ["+0.50", "+1.20", "–", "–"]
    assert chapter.testbed_overview("smoke") == []
    numbers = chapter.testbed_numbers(overview)
    assert (numbers["r1_tried"], numbers["r1_chosen"]) == ("R-1; R-1, fallback (i)", "R-1, fallback (i)")
    assert numbers["r1_outcome"].startswith("R-1, fallback (i) passed both gates")
    assert (numbers["r1_booster_gate"], numbers["r1_kd_gate"]) == ("2", "1")
    failed = chapter.testbed_numbers([(R1, _found(kd=0.855, testbed=R1)), (SMALLER, _found(booster=0.86,
                                                                                           testbed=SMALLER))])
    assert failed["r1_chosen"] == "none" and failed["r1_outcome"].startswith("none passed")
    assert chapter.testbed_numbers([])["r1_outcome"] == "no pilot was run at this profile"


def test_the_cli_lists_and_trains_the_rocket_pilot_through_the_executor_and_stops_at_the_first_pass(monkeypatch,
                                                                                                    capsys):
    listed = []

    def train(stages, args):  # what the executor would be handed, in place of training it
        listed.append([spec.id for stage in stages for spec in stage()])
        return 0
    monkeypatch.setattr(cli, "_train", train)
    outcomes = {R1: _found(booster=0.86, testbed=R1), SMALLER: _found(testbed=SMALLER)}
    monkeypatch.setattr(chapter, "pilot_results", lambda train_missing=False, testbed=None: outcomes[testbed])
    assert cli.main(["pilot", "rocket_launching"]) == 0
    assert listed == [[s.id for specs in chapter.r1_pilot(t).values() for s in specs] for t in (R1, SMALLER)]
    assert listed[0] == [i for ids in PILOT_IDS.values() for i in ids]
    out = capsys.readouterr().out
    assert f"--- R-1: {R1.why}" in out and "no go: R-1 fails a gate" in out
    assert "go: R-1, fallback (i) is the testbed" in out and "fallback (ii)" not in out

    listed.clear()
    monkeypatch.setattr(chapter, "pilot_results", lambda train_missing=False, testbed=None: _found(kd=0.85,
                                                                                                   testbed=testbed))
    assert cli.main(["pilot", "rocket_launching", "--no-train"]) == 3  # every testbed fails: nothing trained
    assert listed == [] and "no go: every testbed and fallback failed a gate" in capsys.readouterr().out


def test_r1s_joint_runs_use_the_mlp_pair_and_refuse_interval_sharing_with_the_fix():
    spec = chapter.r1_rocket(1)
    assert (spec.model, spec.method, spec.seed, spec.train_size) == ("rocket_mlp_64_1024_bottom", "rocket", 1, 10_000)
    assert resolve_params("rocket", dict(spec.method_params)) == {"lam": 0.03, "hint": "mimic", "temperature": 4.0,
                                                                 "grad_block": True}  # the code's λ, L_mimic
    assert chapter.r1_rocket(0, NARROWER, "none").model == "rocket_mlp_32_1024_none"
    with pytest.raises(ValueError, match="an MLP pair has no interval sharing.*use sharing='bottom'"):
        chapter.r1_rocket(0, sharing="interval")
