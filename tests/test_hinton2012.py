"""Hinton et al. 2012's dropout recipe (optimizer and schedule ``hinton2012``) against the equations it states."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from kdlib.spec import RunSpec
from kdlib.optim import DropoutPaperSGD, build_optimizer, hidden_weights, learning_rate, momentum
from kdlib.train import train

from conftest import make_dataset


def recipe(**changes) -> RunSpec:
    base = RunSpec("mnist", "mlp_2x1200_dropout", epochs=60, optimizer="hinton2012", schedule="hinton2012",
                   lr=10.0, momentum=0.99, weight_decay=0.0, batch_size=100, augment="shift2")
    return base.replace(**changes)


def test_the_schedule_is_the_papers_compressed_into_the_runs_epochs():
    """ε_t = ε_0 · 0.998^t and p_t from 0.5 to 0.99 over the first 500 of 3000 epochs, t = progress × 3000."""
    for progress in (0.0, 0.05, 0.5, 0.999):
        assert learning_rate("hinton2012", 10.0, progress) == pytest.approx(10.0 * 0.998 ** (3000 * progress))
    spec = recipe()
    assert momentum(spec, 0.0) == pytest.approx(0.5)
    assert momentum(spec, 250 / 3000) == pytest.approx(0.5 + 0.5 * 0.49)  # half-way up the ramp
    assert momentum(spec, 500 / 3000) == pytest.approx(0.99)
    assert momentum(spec, 0.9) == pytest.approx(0.99)
    assert momentum(recipe(optimizer="sgd", schedule="cosine"), 0.0) == 0.99  # other schedules keep theirs


def test_the_update_and_the_max_norm_bound_match_a_hand_computation():
    """Two steps of Δw = p·Δw − (1 − p)·ε·g, each followed by scaling every row to norm ≤ c, in NumPy."""
    torch.manual_seed(0)
    weight = nn.Parameter(torch.randn(4, 3) * 2)
    bias = nn.Parameter(torch.randn(4))
    optimizer = DropoutPaperSGD([{"params": [weight], "max_norm": 2.5}, {"params": [bias]}], lr=0.7, momentum=0.6)
    w, b = weight.detach().numpy().copy(), bias.detach().numpy().copy()
    vw, vb = np.zeros_like(w), np.zeros_like(b)
    for step, (lr, p) in enumerate(((0.7, 0.6), (0.4, 0.8))):
        for group in optimizer.param_groups:
            group["lr"], group["momentum"] = lr, p
        gw, gb = np.full((4, 3), 0.5 + step, dtype=np.float32), np.arange(4, dtype=np.float32)
        weight.grad, bias.grad = torch.from_numpy(gw.copy()), torch.from_numpy(gb.copy())
        optimizer.step()
        vw, vb = p * vw - (1 - p) * lr * gw, p * vb - (1 - p) * lr * gb
        w, b = w + vw, b + vb
        norms = np.linalg.norm(w, axis=1, keepdims=True)
        w = w * np.minimum(1.0, 2.5 / norms)
        np.testing.assert_allclose(weight.detach().numpy(), w, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(bias.detach().numpy(), b, rtol=1e-5, atol=1e-6)  # no bound on biases
    assert np.linalg.norm(weight.detach().numpy(), axis=1).max() <= 2.5 + 1e-5


def test_only_the_hidden_units_incoming_weights_are_bounded():
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 20), nn.ReLU(), nn.Linear(20, 20), nn.ReLU(), nn.Linear(20, 3))
    bounded = hidden_weights(model)
    assert [tuple(w.shape) for w in bounded] == [(20, 64), (20, 20)]  # not the output layer
    optimizer = build_optimizer(recipe(model="mlp_2x800"), model)
    assert [group["max_norm"] for group in optimizer.param_groups] == [pytest.approx(math.sqrt(15)), None]
    assert sum(len(group["params"]) for group in optimizer.param_groups) == len(list(model.parameters()))


def test_a_recipe_run_keeps_every_hidden_unit_within_the_bound_and_is_deterministic():
    data = make_dataset()
    spec = recipe(model="mlp_2x800", epochs=2, batch_size=32, val_size=40, lr=60.0, augment="none")
    first = train(spec, data, device=torch.device("cpu"), progress="off")
    for weight in hidden_weights(first.model):
        assert weight.norm(dim=1).max().item() <= math.sqrt(15) + 1e-4
    # at this step size the bound binds: some unit sits on it (without it, the rows would grow past it)
    assert any(weight.norm(dim=1).max().item() > math.sqrt(15) - 1e-3 for weight in hidden_weights(first.model))
    second = train(spec, data, device=torch.device("cpu"), progress="off")

    def untimed(history):
        return [{name: value for name, value in row.items() if not name.endswith("time_s")} for row in history]

    assert untimed(first.history) == untimed(second.history)


def test_the_recipe_is_refused_half_set_or_with_weight_decay():
    with pytest.raises(ValueError, match="set both or neither"):
        recipe(schedule="cosine")
    with pytest.raises(ValueError, match="set both or neither"):
        recipe(optimizer="sgd")
    with pytest.raises(ValueError, match="max-norm bound, not weight decay; set weight_decay=0"):
        recipe(weight_decay=5e-4)


def test_the_recipe_needs_a_fully_connected_network_with_a_hidden_layer():
    for model in (nn.Sequential(nn.Flatten(), nn.Linear(64, 3)),  # no hidden layer to bound
                  nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(144, 20), nn.ReLU(), nn.Linear(20, 3))):
        with pytest.raises(ValueError, match="is not one \\(convolutions, or no hidden layer\\); use it with an MLP"):
            build_optimizer(recipe(model="mlp_2x800"), model)


def test_the_recipes_final_momentum_must_lie_above_its_initial_one():
    for final in (0.4, 1.0):
        with pytest.raises(ValueError, match=f"must lie in \\[0.5, 1\\) \\(the paper's is 0.99\\); got {final}"):
            recipe(momentum=final)
    assert recipe(momentum=0.5).momentum == 0.5  # a flat ramp is allowed
