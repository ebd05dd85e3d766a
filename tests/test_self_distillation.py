"""Self-distillation (Zhang et al. 2019): the multi-exit networks, the loss, which parts the shallow terms train,
early exits, and the refusals."""

import numpy as np
import pytest
import torch

from kdlib import runs
from kdlib.data import normalise
from kdlib.benchmark import multiply_accumulates
from kdlib.methods import get_method, resolve_params
from kdlib.methods.self_distillation import shallow_term_gradients
from kdlib.models import SD_VARIANTS, SelfDistillationNet, build_model, count_parameters
from kdlib.runs import RunSpec
from kdlib.train import inherit_weights

NARROW = ((16, 32, 64, 128), 1)


def _net(variant: str, shape=(1, 28, 28), exits=(1, 2, 3, 4)) -> SelfDistillationNet:
    torch.manual_seed(0)
    return SelfDistillationNet(shape, 10, *NARROW, variant, exits)


@pytest.mark.parametrize("variant", SD_VARIANTS)
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_every_exit_gives_logits_and_deepest_width_features(variant, shape):
    model = _net(variant, shape).eval()
    x = torch.randn(5, *shape)
    logits, features = model.forward_exits(x)
    assert [tuple(t.shape) for t in logits] == [(5, 10)] * 4
    assert [tuple(t.shape) for t in features] == [(5, 128)] * 4
    torch.testing.assert_close(model(x), logits[-1])  # the network's own output is its deepest exit
    for k in (1, 2, 3, 4):
        torch.testing.assert_close(model.forward_exit(x, k), logits[k - 1])


def _numpy_sd_loss(exit_logits, exit_features, labels, alpha, temperature, lam):
    """The loss written out in numpy, independently of kdlib."""
    def log_softmax(z):
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    def ce(z):
        return -log_softmax(z)[np.arange(len(labels)), labels].mean()

    deep, deep_f = exit_logits[-1], exit_features[-1]
    total = ce(deep)
    for z, f in zip(exit_logits[:-1], exit_features[:-1]):
        log_q, log_p = log_softmax(deep / temperature), log_softmax(z / temperature)
        kl = (np.exp(log_q) * (log_q - log_p)).sum(axis=1).mean()
        hint = ((f - deep_f) ** 2).sum(axis=1).mean()
        total += (1 - alpha) * ce(z) + alpha * temperature ** 2 * kl + lam * hint
    return total


@pytest.mark.parametrize("alpha,temperature,lam", [(0.3, 3.0, 0.03), (0.9, 1.0, 1.0), (0.0, 2.0, 0.0)])
def test_loss_matches_an_independent_computation(alpha, temperature, lam):
    rng = np.random.default_rng(0)
    logits = [rng.normal(0, 3, (6, 5)) for _ in range(4)]
    features = [rng.normal(0, 1, (6, 7)) for _ in range(4)]
    labels = rng.integers(0, 5, 6)
    terms = get_method("self_distillation").loss(
        torch.tensor(logits[-1]), torch.tensor(labels), [torch.tensor(z) for z in logits],
        [torch.tensor(f) for f in features], **resolve_params("self_distillation",
                                                              dict(alpha=alpha, temperature=temperature, lam=lam)))
    assert terms["loss"].item() == pytest.approx(_numpy_sd_loss(logits, features, labels, alpha, temperature, lam),
                                                 rel=1e-10)


def test_without_kd_and_hint_the_loss_is_the_sum_of_the_exits_cross_entropies():
    torch.manual_seed(1)
    logits = [torch.randn(8, 4) for _ in range(3)]
    labels = torch.randint(0, 4, (8,))
    terms = get_method("self_distillation").loss(logits[-1], labels, logits, [torch.randn(8, 6) for _ in range(3)],
                                                 alpha=0.0, temperature=3.0, lam=0.0)
    expected = sum(torch.nn.functional.cross_entropy(z, labels) for z in logits)
    torch.testing.assert_close(terms["loss"], expected)


@pytest.mark.parametrize("variant", SD_VARIANTS)
def test_shallow_terms_never_train_the_deepest_exit(variant):
    """The rule: the deepest exit is the teacher, so the shallow exits' KD and hint terms send no gradient to the
    deepest stage or its classifier; they do train the shallow exits and the stages those share."""
    model = _net(variant).train()
    norms = shallow_term_gradients(model, torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,)))
    assert norms["stage4"] == 0.0 and norms["exit4 classifier"] == 0.0
    for part in ("stem", "stage1", "stage2", "stage3", "exit1 branch", "exit2 branch", "exit3 branch",
                 "exit1 classifier", "exit2 classifier", "exit3 classifier"):
        assert norms[part] > 0.0, part


def test_early_exit_runs_only_the_layers_up_to_its_stage():
    model = _net("iccv").eval()
    called = []
    parts = [(f"stage{k}", stage) for k, stage in enumerate(model.stages, start=1)]
    parts += [(f"{name} branch", branch) for name, branch in model.branches.items()]
    for name, module in parts:
        module.register_forward_hook(lambda *_, name=name: called.append(name))
    model.forward_exit(torch.randn(2, 1, 28, 28), 2)
    assert called == ["stage1", "stage2", "exit2 branch"]
    called.clear()
    model(torch.randn(2, 1, 28, 28))
    assert called == ["stage1", "stage2", "stage3", "stage4", "exit4 branch"]


@pytest.mark.parametrize("k", [1, 2, 3])
def test_an_exit_path_alone_is_exactly_that_exit_of_the_full_network(k):
    """The small networks the chapter trains for comparison have the exit's parameters, names and outputs."""
    full = _net("iccv").eval()
    alone = build_model(f"resnet10_narrow_exit{k}_iccv", (1, 28, 28), 10).eval()
    view = full.exit_network(k)
    assert count_parameters(alone) == count_parameters(view) < count_parameters(full)
    copied = inherit_weights(alone, full.state_dict())
    assert sorted(copied) == sorted(alone.state_dict())
    x = torch.randn(3, 1, 28, 28)
    torch.testing.assert_close(alone(x), full.forward_exit(x, k))
    torch.testing.assert_close(view(x), full.forward_exit(x, k))


@pytest.mark.parametrize("params,message", [
    ({"alpha": 1.5}, "alpha"), ({"alpha": -0.1}, "alpha"), ({"temperature": 0.0}, "temperature"),
    ({"temperature": -2.0}, "temperature"), ({"lam": -1.0}, "lam"), ({"beta": 1.0}, "no parameter beta")])
def test_bad_parameters_are_refused_before_training(params, message):
    with pytest.raises(ValueError, match=message):
        RunSpec("fashion_mnist", "resnet10_narrow_sd_iccv", method="self_distillation", method_params=params)


def test_unknown_variant_and_mismatched_method_are_refused():
    with pytest.raises(ValueError, match="unknown self-distillation variant 'vgg'"):
        SelfDistillationNet((1, 28, 28), 10, *NARROW, "vgg")
    with pytest.raises(ValueError, match="unknown model 'resnet10_narrow_sd_vgg'"):
        RunSpec("fashion_mnist", "resnet10_narrow_sd_vgg", method="self_distillation")
    with pytest.raises(ValueError, match="do not fit"):
        RunSpec("fashion_mnist", "resnet10_narrow_sd_iccv")  # plain CE would train the deepest exit only
    with pytest.raises(ValueError, match="do not fit"):
        RunSpec("fashion_mnist", "resnet10_narrow", method="self_distillation")
    with pytest.raises(ValueError, match="exits must be increasing"):
        SelfDistillationNet((1, 28, 28), 10, *NARROW, "iccv", exits=(3, 1))


def test_a_self_distillation_run_records_every_exit_and_the_ensemble(tiny):
    spec = RunSpec("mnist", "resnet10_narrow_sd_tpami", method="self_distillation", epochs=2, val_size=40,
                   batch_size=32, lr=0.05)
    record = runs.get_or_train(spec, progress="off")
    metrics = record["metrics"]
    assert metrics["test_acc"] == metrics["exit4_test_acc"] and metrics["val_acc"] == metrics["exit4_val_acc"]
    assert {f"exit{k}_test_acc" for k in range(1, 5)} | {"ensemble_test_acc"} <= set(metrics)
    assert metrics["ensemble_test_acc"] > 0.5  # three easy classes: learnt in two epochs
    model = runs.load_model(spec, progress="off").eval()  # the ensemble: argmax of the exits' summed logits
    with torch.no_grad():
        summed = torch.stack(model.forward_exits(normalise(tiny.test_images, tiny.mean, tiny.std))[0]).sum(0)
    assert (summed.argmax(1) == tiny.test_labels).float().mean().item() == pytest.approx(metrics["ensemble_test_acc"])


def test_multiply_accumulates_match_a_hand_count():
    """conv 1→2 channels, 3×3, padding 1 on a 4×4 image: 2·4·4 outputs × 9 MACs = 288; then 32 → 3 linear: 96."""
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(32, 3))
    assert multiply_accumulates(model, (1, 4, 4)) == 288 + 96
    depthwise = torch.nn.Conv2d(4, 4, 3, padding=1, groups=4)  # one 3×3 filter per channel: 4·4·4 outputs × 9
    assert multiply_accumulates(depthwise, (4, 4, 4)) == 64 * 9


def test_each_exit_costs_more_than_the_one_before():
    network = _net("tpami")
    macs = [multiply_accumulates(network.exit_network(k), (1, 28, 28)) for k in (1, 2, 3, 4)]
    parameters = [count_parameters(network.exit_network(k)) for k in (1, 2, 3, 4)]
    assert macs == sorted(macs) and len(set(macs)) == 4
    assert parameters[-1] == count_parameters(network) - sum(
        count_parameters(network.branches[f"exit{k}"]) + count_parameters(network.classifiers[f"exit{k}"])
        for k in (1, 2, 3))
