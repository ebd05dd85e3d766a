"""Rocket Launching (Zhou et al. 2018): the shared light/booster pairs, gradient block, hint losses, the ablations."""

import numpy as np
import pytest
import torch

from kdlib import claims, runs
from kdlib.methods import get_method, resolve_params
from kdlib.methods.rocket import HINTS, hint_loss
from kdlib.methods.rocket import RocketNet
from kdlib.models import build_model
from kdlib.spec import RunSpec
from kdlib.train import inherit_weights, train

SHAPE = (1, 12, 12)


def _pair(sharing: str) -> RocketNet:
    torch.manual_seed(0)
    return RocketNet(SHAPE, 3, light_depth=10, booster_depth=16, width=1, sharing=sharing)


def _grads_after_hint(model: RocketNet, grad_block: float) -> dict[str, list[bool]]:
    """Backward pass of the hint term alone: which parameters of each role received a non-zero gradient."""
    x = torch.randn(8, *SHAPE)
    light, booster = model.forward_both(x)
    terms = get_method("rocket").loss(light, torch.zeros(8, dtype=torch.long), booster,
                                      **resolve_params("rocket", {"grad_block": grad_block}))
    model.zero_grad(set_to_none=True)
    terms["hint"].backward()
    return {role: [p.grad is not None and bool(p.grad.abs().sum() > 0) for p in params]
            for role, params in model.parameter_roles().items()}


@pytest.mark.parametrize("sharing", ["interval", "bottom", "none"])
def test_gradient_block_keeps_the_hint_out_of_the_booster(sharing):
    blocked = _grads_after_hint(_pair(sharing), grad_block=1.0)
    assert not any(blocked["booster"]), "a booster-specific parameter received the hint's gradient"
    assert all(blocked["light"]), "every light-specific parameter must learn from the hint"
    assert all(blocked["shared"]) and (sharing == "none") == (not blocked["shared"])
    open_ = _grads_after_hint(_pair(sharing), grad_block=0.0)
    assert all(open_["light"]) and all(open_["shared"])
    assert all(open_["booster"]), "without gradient block the hint must reach every booster parameter"


@pytest.mark.parametrize("sharing", ["interval", "bottom"])
def test_shared_layers_are_one_set_of_tensors(sharing):
    model = _pair(sharing)
    roles = model.parameter_roles()
    ids = [id(p) for params in roles.values() for p in params]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    assert roles["shared"] and model.booster.conv0.weight in roles["shared"]
    x = torch.randn(4, *SHAPE)
    model.eval()
    before = model(x)
    with torch.no_grad():  # changing the booster's stem changes the light net: it is the same tensor
        model.booster.conv0.weight.mul_(2.0)
    assert not torch.allclose(model(x), before)


def test_without_sharing_the_two_nets_have_nothing_in_common():
    model = _pair("none")
    assert model.parameter_roles()["shared"] == []
    x = torch.randn(4, *SHAPE)
    model.eval()
    before = model(x)
    with torch.no_grad():
        for p in model.booster.parameters():
            p.mul_(2.0)
    assert torch.equal(model(x), before)


@pytest.mark.parametrize("sharing", ["interval", "bottom", "none"])
def test_the_light_net_alone_gives_the_same_logits_as_the_joint_pass(sharing):
    model = _pair(sharing).eval()
    x = torch.randn(5, *SHAPE)
    light, booster = model.forward_both(x)
    assert torch.allclose(model(x), light, atol=1e-6) and torch.allclose(model.booster(x), booster, atol=1e-6)
    assert model.light_parameter_count() < sum(p.numel() for p in model.parameters())


def test_unknown_sharing_schemes_and_bad_hints_are_refused():
    with pytest.raises(ValueError, match="unknown sharing scheme 'middle'; choose one of: interval, bottom, none"):
        RocketNet(SHAPE, 3, 10, 16, 1, "middle")
    with pytest.raises(ValueError, match="unknown model 'rocket_10_16_1_middle'"):
        RunSpec("fashion_mnist", "rocket_10_16_1_middle", method="rocket")
    with pytest.raises(ValueError, match="unknown hint 'l1'"):
        hint_loss(torch.zeros(2, 3), torch.zeros(2, 3), "l1")


@pytest.mark.parametrize("params, message", [
    ({"lam": -0.1}, r"lam \(λ, the weight of the hint loss\) must be >= 0"),
    ({"hint": 3}, r"hint \(the hint loss: .*\) must be one of mimic, mse, kd \(or their index 0..2\), got 3"),
    ({"grad_block": 0.5}, r"grad_block \(.*\) is a flag: 0 \(off\) or 1 \(on\), got 0.5"),
    ({"temperature": 0}, r"temperature \(the temperature of the kd hint\) must be > 0, got 0"),
    ({"gamma": 0.03}, "has no parameter gamma"),
])
def test_bad_rocket_parameters_are_refused_before_training(params, message):
    with pytest.raises(ValueError, match=message):
        RunSpec("fashion_mnist", "rocket_10_16_1_interval", method="rocket", method_params=params)


def test_joint_methods_and_pairs_go_together():
    with pytest.raises(ValueError, match=r"do not fit: the method trains a light net and booster pair \(a rocket_\*"):
        RunSpec("fashion_mnist", "wrn_10_1", method="rocket")
    with pytest.raises(ValueError, match=r"trains a plain classifier, and 'rocket_10_16_1_interval' is a light net"):
        RunSpec("fashion_mnist", "rocket_10_16_1_interval")  # a pair trained with plain CE
    with pytest.raises(ValueError, match="init_from_teacher needs a teacher"):
        RunSpec("fashion_mnist", "wrn_10_1", init_from_teacher=True)


def test_each_hint_matches_an_independent_computation():
    rng = np.random.default_rng(1)
    light, booster = rng.normal(size=(5, 4)) * 2, rng.normal(size=(5, 4)) * 2

    def softmax(z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    expected = {"mimic": np.mean(((light - booster) ** 2).sum(axis=1)),
                "mse": np.mean(((softmax(light) - softmax(booster)) ** 2).sum(axis=1))}
    t = 3.0
    p_l, p_b = softmax(light / t), softmax(booster / t)
    expected["kd"] = t * t * np.mean((p_b * (np.log(p_b) - np.log(p_l))).sum(axis=1))
    for name in HINTS:
        got = hint_loss(torch.tensor(light), torch.tensor(booster), name, temperature=t).item()
        assert got == pytest.approx(expected[name], rel=1e-10), name


def test_the_rocket_loss_is_both_cross_entropies_plus_the_weighted_hint():
    torch.manual_seed(0)
    light, booster, labels = torch.randn(6, 4), torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 0, 1])
    terms = get_method("rocket").loss(light, labels, booster, **resolve_params("rocket", {"lam": 0.5}))
    ce = torch.nn.functional.cross_entropy
    expected = ce(light, labels) + ce(booster, labels) + 0.5 * (light - booster).pow(2).sum(1).mean()
    assert terms["loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    zero = get_method("rocket").loss(light, labels, booster, **resolve_params("rocket", {"lam": 0.0}))["loss"]
    assert zero.item() == pytest.approx((ce(light, labels) + ce(booster, labels)).item(), rel=1e-6)


def test_a_pair_trains_and_records_both_nets(tiny):
    spec = RunSpec("mnist", "rocket_10_16_1_interval", method="rocket", epochs=2, batch_size=32, val_size=40)
    record = runs.get_or_train(spec, progress="off")
    metrics = record["metrics"]
    assert metrics["test_acc"] > 0.5 and metrics["booster_test_acc"] > 0.5
    assert metrics["n_params_light"] < metrics["n_params"]
    assert {"train_ce_light", "train_ce_booster", "train_hint", "booster_val_acc"} <= set(record["history"][-1])


def test_no_joint_training_starts_the_light_net_from_the_trained_booster(tiny):
    booster = RunSpec("mnist", "wrn_16_1", epochs=1, batch_size=32, val_size=40)
    trained = runs.load_model(booster)
    light = build_model("wrn_10_1", (1, 8, 8), 3)
    copied = inherit_weights(light, trained.state_dict())
    assert "conv0.weight" in copied and "groups.0.0.conv1.weight" in copied and "groups.0.1.conv1.weight" not in copied
    assert torch.equal(light.groups[2][0].conv2.weight,
                       trained.groups[2][0].conv2.weight)
    spec = RunSpec("mnist", "wrn_10_1", method="mimic", teacher=booster, init_from_teacher=True, epochs=1,
                   batch_size=32, val_size=40)
    assert spec.id != spec.replace(init_from_teacher=False).id
    assert runs.get_or_train(spec, progress="off")["metrics"]["test_acc"] > 0.5


def test_the_chapter_gradient_check_reports_zero_for_the_booster_only_under_gradient_block():
    from kdlib.methods.rocket import hint_gradient_norms

    model, x, y = _pair("interval"), torch.randn(8, *SHAPE), torch.zeros(8, dtype=torch.long)
    on, off = hint_gradient_norms(model, x, y, 1.0), hint_gradient_norms(model, x, y, 0.0)
    assert on["booster"] == 0.0 and on["light"] > 0 and on["shared"] > 0
    assert off["booster"] > 0
    assert all(p.grad is None for p in model.parameters())  # leaves no gradient behind


# --- the chapter's claims (C6-C9), from synthetic records --------------------------------------------------------

from kdlib.chapters import rocket_launching as chapter  # noqa: E402

LIGHT_MODEL, PAIR = "wrn_10_1", "rocket_10_16_1"
ROWS = {  # label: (model, method), as the chapter declares them at the cpu profile
    "light alone": (LIGHT_MODEL, "ce"), "booster alone": ("wrn_16_1", "ce"),
    "KD from the booster": (LIGHT_MODEL, "kd"), "rocket (b)": (f"{PAIR}_interval", "rocket"),
    "rocket (a)": (f"{PAIR}_bottom", "rocket"), "rocket + KD (b)": (f"{PAIR}_interval", "rocket_kd"),
    "no gradient block (b)": (f"{PAIR}_interval", "rocket"), "no sharing": (f"{PAIR}_none", "rocket"),
    "no joint training (b)": (LIGHT_MODEL, "mimic"), "hint L_MSE (b)": (f"{PAIR}_interval", "rocket"),
    "hint L_KD (b)": (f"{PAIR}_interval", "rocket"),
}


def _records(label, accuracy, seconds, spread=0.05, time_spread=1.0, seeds=(0, 1, 2)):
    """One record per seed: test accuracy (points) and training time (s) with a small seed-to-seed spread that
    differs per row, so that paired differences vary too."""
    model, method = ROWS[label]
    rng = np.random.default_rng(sum(map(ord, label)))
    return [{"id": f"{label}-{seed}",
             "spec": {"seed": seed, "dataset": "fashion_mnist", "model": model, "method": method, "subset": 5000,
                      "val_size": 5000, "batch_size": 128},
             "metrics": {"test_acc": (accuracy + spread * rng.standard_normal()) / 100},
             "history": [{"epoch": 1, "step": 120, "train_time_s": (seconds + time_spread * rng.standard_normal()) / 2},
                         {"epoch": 2, "step": 240, "train_time_s": (seconds + time_spread * rng.standard_normal()) / 2}]}
            for seed in seeds]


def _results(accuracy=None, seconds=None, spread=None, time_spread=1.0):
    """A chapter whose claims all hold, with the changes given (accuracy in points, training time in s, and the
    seed-to-seed spread of the rows named in ``spread``)."""
    acc = {"light alone": 80.0, "booster alone": 84.0, "KD from the booster": 81.0, "rocket (b)": 83.0,
           "rocket (a)": 83.0, "rocket + KD (b)": 83.5, "no gradient block (b)": 82.0, "no sharing": 82.0,
           "no joint training (b)": 82.0, "hint L_MSE (b)": 82.0, "hint L_KD (b)": 82.0, **(accuracy or {})}
    time = {label: 60.0 for label in ROWS} | {"booster alone": 120.0, "rocket (b)": 120.0, "rocket (a)": 100.0}
    time.update(seconds or {})
    spread = {label: 0.05 for label in ROWS} | (spread or {})
    return {"profile": "cpu", "table": {label: _records(label, acc[label], time[label], spread[label], time_spread)
                                        for label in ROWS}}


def _by_id(results):
    return {claim.id: claim for claim in chapter.claims(results)}


def test_rocket_claims_are_supported_when_every_comparison_goes_their_way():
    found = _by_id(_results())
    assert list(found) == ["C6", "C7", "C8", "C9"]
    for claim in found.values():
        assert claim.verdict == "supported", (claim.id, claim.reason)
        assert claim.chapter == "rocket_launching"
        assert claim.setting.dataset == "Fashion-MNIST (stand-in for CIFAR-10)"
        assert claim.setting.budget_share == pytest.approx(240 / (200 * 391))
    assert len(found["C6"].comparisons) == 4 and len(found["C7"].comparisons) == 3
    assert found["C9"].expect == "lower" and found["C9"].comparisons[0].unit == "minutes"
    assert all(claim.primary.p_holm is not None for claim in found.values())  # adjusted, within the paper
    assert all(c.p_holm is None for claim in found.values() for c in claim.comparisons[1:])  # secondary


def test_the_design_decides_the_test():
    c7 = _by_id(_results())["C7"]
    tests = {c.label: c.test for c in c7.comparisons}
    assert tests["rocket (b) − no gradient block (b)"] == "paired"  # same pair, same seeds: only a switch differs
    assert tests["rocket (b) − no sharing"] == "welch"  # another network
    c9 = _by_id(_results())["C9"]
    assert all(c.test == "welch" for c in c9.comparisons)  # run times of different runs share no seed effect


def test_a_rocket_light_net_significantly_worse_contradicts_c6():
    c6 = _by_id(_results({"rocket (b)": 78.0}))["C6"]
    assert c6.verdict == "contradicted"
    assert "rocket (b) − light alone" in c6.reason and "opposite direction" in c6.reason


def test_a_noisy_difference_is_inconclusive_and_names_its_detectable_effect():
    c8 = _by_id(_results({"hint L_MSE (b)": 82.8, "hint L_KD (b)": 82.8},
                         spread={"hint L_MSE (b)": 1.0, "hint L_KD (b)": 1.0}))["C8"]
    assert c8.verdict == "inconclusive" and "MDE" in c8.reason


def test_kd_that_does_not_beat_the_light_net_makes_c6_to_c8_untestable_but_not_c9():
    found = _by_id(_results({"KD from the booster": 77.0}))
    for name in ("C6", "C7", "C8"):
        assert found[name].verdict == "untestable here"
        assert "KD from the separately trained booster beats the light net alone" in found[name].reason
        assert found[name].primary.p_holm is not None  # still in the fixed family
    assert found["C9"].verdict == "supported"


def test_a_booster_no_better_than_the_light_net_makes_c6_untestable():
    c6 = _by_id(_results({"booster alone": 80.0}, spread={"booster alone": 0.5}))["C6"]
    assert c6.verdict == "untestable here"
    assert c6.reason.startswith("precondition failed: the booster alone beats the light net alone")
    assert "KD from the separately" not in c6.reason


def test_c9_compares_the_joint_run_with_booster_plus_light_net():
    slower = _by_id(_results(seconds={"rocket (b)": 200.0, "rocket (a)": 200.0}))["C9"]
    assert slower.verdict == "contradicted"
    # the joint run's time against booster + light net: (200 − 180) s = +0.33 minutes
    assert slower.comparisons[0].effect == pytest.approx(20 / 60, abs=0.05)
    noisy = _by_id(_results(seconds={"rocket (b)": 175.0, "rocket (a)": 175.0}, time_spread=30.0))["C9"]
    assert noisy.verdict == "inconclusive"


def test_a_diverged_run_has_no_training_time():
    results = _results()
    record = results["table"]["booster alone"][1]
    record["metrics"] = {"diverged": True, "test_acc": None}
    assert claims.training_seconds(record) is None
    separate = chapter.separate_training(results["table"])
    assert separate[1]["metrics"][claims.TIME_METRIC] is None
    assert separate[0]["metrics"][claims.TIME_METRIC] == pytest.approx(
        claims.training_seconds(results["table"]["booster alone"][0])
        + claims.training_seconds(results["table"]["light alone"][0]))
    c9 = _by_id(results)["C9"]
    assert c9.comparisons[0].n == (3, 2) and c9.comparisons[0].excluded == 1


def test_one_seed_per_row_as_in_the_smoke_profile_tests_nothing():
    results = _results()
    results["table"] = {label: records[:1] for label, records in results["table"].items()}
    found = _by_id(results)
    assert found["C6"].verdict == "untestable here"  # a control with no spread does not hold
    assert found["C9"].verdict == "inconclusive" and "no spread" in found["C9"].reason


def _differences(spec, base) -> dict:
    """The spec fields (and method parameters) where ``spec`` differs from ``base``."""
    a, b = spec.to_dict(), base.to_dict()
    return {key: a[key] for key in a if a[key] != b.get(key) and key != "teacher"}


def test_each_arm_of_the_control_study_changes_one_thing():
    arms = chapter.control_runs("cpu")
    setting = arms["the chapter's setting"]
    table = chapter.table_runs("cpu", {hint: lams[0] for hint, lams in chapter.budget("cpu")["lambdas"].items()})
    assert [s.id for s in setting["KD, book's term"]] == [s.id for s in table["KD from the booster"]]
    assert [s.id for s in setting["student alone"]] == [s.id for s in table["light alone"]]
    assert [s.id for s in setting["teacher alone"]] == [s.id for s in table["booster alone"]]
    code = setting["KD, code's term"][0]
    assert dict(code.method_params) == {"alpha": 0.9, "temperature": 4.0, "scale": pytest.approx(2 / 10)}
    assert code.teacher == chapter.booster_teacher("cpu")
    longer = arms["24 epochs"]
    for row in ("student alone", "KD, book's term", "KD, code's term"):
        assert _differences(longer[row][0], setting[row][0]) == {"epochs": 24}
    assert longer["KD, book's term"][0].teacher == chapter.booster_teacher("cpu").replace(epochs=24)
    for lr in (0.03, 0.3):
        for row in ("student alone", "KD, book's term", "KD, code's term"):
            assert _differences(arms[f"lr {lr:g}"][row][1], setting[row][1]) == {"lr": lr}
        assert arms[f"lr {lr:g}"]["KD, code's term"][0].teacher == chapter.booster_teacher("cpu")
    assert [s.seed for s in arms["α 0.1"]["KD, book's term"]] == [0, 1, 2]
    assert dict(arms["α 0.1"]["KD, book's term"][0].method_params) == {"alpha": 0.1, "temperature": 4.0}


def test_the_plan_chooses_each_lambda_on_validation_and_stops_at_a_missing_grid():
    """The plan's one door to earlier records is its choice of λ: a missing grid record is a stage boundary (the
    three grids train together), and a complete grid picks, per hint, the λ with the best validation accuracy."""
    from kdlib.chapters import Choose, Missing, plan_stages

    grid = chapter.lambda_grid("cpu")
    best = {"mimic": 1, "mse": 0, "kd": 2}  # index of the best λ per hint
    values = {spec.id: 0.9 if i == best[hint] else 0.8 for hint, cells in grid.items()
              for i, spec in enumerate(cells.values())}
    with pytest.raises(Missing) as missing:
        chapter.plan("cpu", Choose(lambda spec: None))
    assert missing.value.names == ["mimic", "mse", "kd"]
    teachers = {chapter.booster_teacher("cpu").id, *[arm["teacher alone"][0].id for arm in
                                                     chapter.control_runs("cpu").values() if "teacher alone" in arm]}
    assert {s.id for s in missing.value.specs} == set(values) | teachers  # the boosters train beside the grids
    planned = chapter.plan("cpu", Choose(lambda spec: {"metrics": {"val_acc": values[spec.id]}}))
    assert planned["lambdas"] == {hint: list(cells)[best[hint]] for hint, cells in grid.items()}
    assert planned["table"]["hint L_KD (b)"][0].method_params == chapter.table_runs(
        "cpu", planned["lambdas"])["hint L_KD (b)"][0].method_params
    stages = plan_stages(chapter.plan, "cpu")
    assert len(stages) == 4


def test_a_dry_run_of_derived_stages_lists_the_grids_then_says_the_rest_is_undetermined(monkeypatch):
    from kdlib import runs
    from kdlib.plan import plan_stages as dry_run

    monkeypatch.setattr(runs, "current_record", lambda spec: None)  # nothing trained yet
    stages = chapter.stages("cpu")
    found = dry_run(stages, records=[], has_record=lambda spec: False, in_cache=lambda spec: False)
    grid = {spec.id for cells in chapter.lambda_grid("cpu").values() for spec in cells.values()}
    assert grid <= set(found.runs["id"]) and found.undetermined == [2, 3, 4]
