"""The model registry (kdlib.models): every registered model, built at a small input shape, gives every one of its
parameters a finite gradient that is non-zero somewhere in one forward/backward pass of its training outputs.

A check on ``state_dict()`` would pass whenever BatchNorm statistics move, which they do on any training forward
pass; this one looks at ``named_parameters()`` only and names every parameter that got nothing."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import kdlib.methods  # noqa: F401  (registers the papers' own networks: pairs, exits, generators)
from kdlib.models import MODELS, build_model, model_kind, training_outputs

N_CLASSES, BATCH = 10, 4

# The smallest input each builder accepts: LeNet-5 and its relatives need 28×28 (padded to 32) or 32×32, the
# DAFL generator a side that is a multiple of 4; the ResNets and WRNs run on anything that survives their strides.
SMALL = (1, 16, 16)
SHAPES = {"lenet5": (1, 28, 28), "lenet5_half": (1, 28, 28), "lenet5_half_sd_exits": (1, 28, 28),
          "rocket_lenet5half_lenet5_none": (1, 28, 28)}

# Parameters that cannot receive a gradient from any loss: a bias added just before a BatchNorm in training mode
# is removed again by the mean subtraction (d output / d bias = 0 exactly, up to rounding). They are dead weights
# of the architecture (they never move, weight decay aside), not a gap in this test; the test checks that their
# gradient really is ~0, so the list goes stale loudly if the architecture changes.
BIAS_BEFORE_BATCHNORM = {
    "small_cnn": ("0.bias", "4.bias"),  # Conv2d(bias=True) → BatchNorm2d, twice
    **{f"dafl_generator_{width}": ("stage1.0.bias", "stage2.0.bias")  # DAFL's code: conv (bias) → BatchNorm2d
       for width in (16, 32, 64, 128, 256)},
}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One core: these passes are tiny, and on a busy machine a second intra-op thread mostly waits for the first."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


ZERO = 1e-5  # a gradient whose largest entry is below this share of the model's largest gradient counts as none


def image_shape(name: str) -> tuple[int, int, int]:
    return SHAPES.get(name, SMALL)


def training_loss(model: torch.nn.Module, name: str, generator: torch.Generator) -> torch.Tensor:
    """One training forward pass: cross-entropy of every head the model trains (the network's logits, a pair's
    booster, every exit), summed; a generator's images are projected on a fixed random direction."""
    shape = image_shape(name)
    if model_kind(name) == "generator":
        images = model(torch.randn(BATCH, model.latent_dim, generator=generator))
        assert images.shape == (BATCH, *shape)
        return (images * torch.randn(images.shape, generator=generator)).sum()
    images = torch.randn(BATCH, *shape, generator=generator)
    labels = torch.randint(0, N_CLASSES, (BATCH,), generator=generator)
    outputs = training_outputs(model, images)
    heads = [outputs["logits"], *([outputs["booster_logits"]] if "booster_logits" in outputs else []),
             *outputs.get("exit_logits", [])]
    assert all(head.shape == (BATCH, N_CLASSES) for head in heads)
    return sum(F.cross_entropy(head, labels) for head in heads)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_parameter_of_every_registered_model_gets_a_gradient(name):
    torch.manual_seed(0)
    model = build_model(name, image_shape(name), N_CLASSES).train()
    training_loss(model, name, torch.Generator().manual_seed(0)).backward()
    parameters = dict(model.named_parameters())
    dead = BIAS_BEFORE_BATCHNORM.get(name, ())
    assert set(dead) <= set(parameters), f"{name}: listed as dead but not parameters: {set(dead) - set(parameters)}"
    missing = [n for n, p in parameters.items() if p.grad is None]
    assert not missing, f"{name}: no gradient (not reached by the training outputs) for {missing}"
    not_finite = [n for n, p in parameters.items() if not torch.isfinite(p.grad).all()]
    assert not not_finite, f"{name}: a non-finite gradient for {not_finite}"
    # "non-zero" above rounding: a gradient cancelled exactly in real arithmetic (a bias before a BatchNorm) still
    # comes out ~1e-7 of the largest one in float32; the smallest real one here is ~3e-3 of it
    largest = {n: p.grad.abs().max().item() for n, p in parameters.items()}
    floor = ZERO * max(value for n, value in largest.items() if n not in dead)
    zero = [n for n, value in largest.items() if n not in dead and value <= floor]
    assert not zero, f"{name}: no gradient anywhere (all |g| <= {floor:.2g}) for {zero}"
    alive = [n for n in dead if largest[n] > floor]
    assert not alive, f"{name}: {alive} are listed as cancelled by a BatchNorm but got a gradient: update the list"
