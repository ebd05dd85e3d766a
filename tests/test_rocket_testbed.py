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
