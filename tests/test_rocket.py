"""Rocket Launching (Zhou et al. 2018): the shared light/booster pairs, gradient block, hint losses, the ablations."""

import numpy as np
import pytest
import torch

from kdlib import runs
from kdlib.methods import get_method, resolve_params
from kdlib.methods.rocket import HINTS, hint_loss
from kdlib.models import RocketNet, build_model
from kdlib.runs import RunSpec
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
    ({"hint": 3}, r"hint must be 0 \(mimic"),
    ({"grad_block": 0.5}, "grad_block must be 0"),
    ({"temperature": 0}, "temperature must be > 0"),
    ({"gamma": 0.03}, "has no parameter gamma"),
])
def test_bad_rocket_parameters_are_refused_before_training(params, message):
    with pytest.raises(ValueError, match=message):
        RunSpec("fashion_mnist", "rocket_10_16_1_interval", method="rocket", method_params=params)


def test_joint_methods_and_pairs_go_together():
    with pytest.raises(ValueError, match="need a rocket_\\* model"):
        RunSpec("fashion_mnist", "wrn_10_1", method="rocket")
    with pytest.raises(ValueError, match="need a rocket_\\* model"):
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
