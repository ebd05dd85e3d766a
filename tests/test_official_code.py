"""The rows of the book's page "What the official code actually does" (book/official_code.md) that no other test
checks: each kdlib switch against an independent computation of what the official code computes (NumPy, or the
code's own rule written out), with the file and lines of the code it follows."""

import argparse

import numpy as np
import pytest
import torch

from kdlib.methods import get_method, resolve_params
from kdlib.methods.data_free import Generator
from kdlib.methods.rocket import RocketNet, RocketParams
from kdlib.models import build_model
from kdlib.runs import get_or_train
from kdlib.spec import RunSpec
from kdlib.optim import learning_rate


def _softmax(z, t=1.0):
    e = np.exp((z - z.max(axis=1, keepdims=True)) / t)
    return e / e.sum(axis=1, keepdims=True)


def _ce(z, labels):
    return -np.mean(np.log(_softmax(z)[np.arange(len(labels)), labels]))


def _kl_mean_over_entries(student, teacher, t):
    """PyTorch's old default KL reduction (``size_average``, ``nn.KLDivLoss()``): a mean over batch × classes."""
    q, p = _softmax(teacher, t), _softmax(student, t)
    return np.mean(q * (np.log(q) - np.log(p)))


def test_rocket_type_bool_flags_leave_gradient_block_on_as_kdlibs_default():
    """zhougr1993/Rocket-Launching rocket_interval.py:76-79: ``type=bool`` turns the README's ``False`` into True, so
    the README's Table 2 commands run with gradient block and sharing on: kdlib's defaults, not its ablations."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--grad_block", default=True, type=bool)
    parser.add_argument("--param_share", default=True, type=bool)
    parsed = parser.parse_args(["--grad_block", "False", "--param_share", "False"])
    assert parsed.grad_block is True and parsed.param_share is True
    assert RocketParams.parse({"grad_block": parsed.grad_block}) == RocketParams.parse({})


@pytest.mark.parametrize("batch", [128, 80])  # a full batch, and CIFAR-10's last one (50,000 = 390 × 128 + 80)
def test_rocket_kd_at_alpha_2_over_k_is_the_codes_rocket_plus_kd_loss(batch):
    """rocket_interval.py:385-393 with utils.py:17-18: KL(mean over batch × classes) · T² · 2α + CE(booster) +
    CE(light) + γ · Σ(z − l)² / batchSize, the booster's logits detached in the hint. kdlib's rocket_kd at
    α' = 2α/K and λ = γ is the same loss on a full batch; on a partial batch kdlib divides the hint by the batch's
    real size where the code divides by the configured 128."""
    rng = np.random.default_rng(batch)
    classes, alpha, t, gamma = 10, 0.9, 4.0, 0.03
    light, booster, teacher = (rng.normal(size=(batch, classes)) * 3 for _ in range(3))
    labels = rng.integers(0, classes, size=batch)
    hint_sum = np.sum((booster - light) ** 2)
    code = (_kl_mean_over_entries(light, teacher, t) * t * t * 2 * alpha + _ce(booster, labels) + _ce(light, labels)
            + gamma * hint_sum / 128)
    params = resolve_params("rocket_kd", {"alpha": 2 * alpha / classes, "lam": gamma, "temperature": t})
    got = get_method("rocket_kd").loss(torch.tensor(light), torch.tensor(labels), torch.tensor(booster),
                                       torch.tensor(teacher), **params)["loss"].item()
    assert got == pytest.approx(code + gamma * hint_sum * (1 / batch - 1 / 128), rel=1e-10)
    if batch == 128:
        assert got == pytest.approx(code, rel=1e-10)


def test_interval_sharing_gives_the_light_net_its_own_batchnorms_and_classifier():
    """rocket_interval.py:132-140, 194-203, 254-258: the light net ('s' blocks) runs the booster's stem and block
    convolutions with its own BatchNorms (bns0, bns1) and its own final BN and classifier (bns, fcs)."""
    model = RocketNet((1, 12, 12), 3, light_depth=10, booster_depth=16, width=1, sharing="interval")
    roles = {role: {id(p) for p in params} for role, params in model.parameter_roles().items()}
    for module in (model.light_norms, model.light_bn, model.light_fc):
        assert all(id(p) in roles["light"] for p in module.parameters())
    first_blocks = [group[0] for group in model.booster.groups]  # (10 − 4)/6 = 1 block per group is shared
    assert all(id(block.conv1.weight) in roles["shared"] and id(block.bn1.weight) in roles["booster"]
               for block in first_blocks)
    assert id(model.booster.conv0.weight) in roles["shared"]


def test_tf_kd_self_with_its_multiplier_is_kd_at_scale_multiplier_over_k():
    """yuanli2333/Teacher-free-Knowledge-Distillation my_loss_function.py:19-30 (loss_kd_self): (1 − α)·CE +
    α · KLDivLoss()(mean over batch × classes) · T² · multiplier; kdlib's kd with scale = multiplier / K."""
    rng = np.random.default_rng(3)
    classes, alpha, t, multiplier = 100, 0.95, 6.0, 50.0
    student, teacher = rng.normal(size=(16, classes)) * 3, rng.normal(size=(16, classes)) * 3
    labels = rng.integers(0, classes, size=16)
    code = (1 - alpha) * _ce(student, labels) + alpha * _kl_mean_over_entries(student, teacher, t) * t * t * multiplier
    params = resolve_params("kd", {"alpha": alpha, "temperature": t, "scale": multiplier / classes})
    got = get_method("kd").loss(torch.tensor(student), torch.tensor(labels), torch.tensor(teacher), **params)
    assert got["loss"].item() == pytest.approx(code, rel=1e-10)


@pytest.mark.parametrize("method, temperature", [("dafl", 1.0), ("rdskd", 10.0)])
def test_the_data_free_students_kd_is_the_codes_summed_kl_over_the_batch(method, temperature):
    """DAFL-train.py:97-101 (kl_div(size_average=False) / batch at T = 1) and RDSKD student-train.py:61-62 with
    utils.py:27-31 (kl_div(reduction='sum') / batch of s/T against t/T, times T², T = 10)."""
    rng = np.random.default_rng(7)
    student, teacher = rng.normal(size=(12, 10)) * 3, rng.normal(size=(12, 10)) * 3
    q, p = _softmax(teacher, temperature), _softmax(student, temperature)
    code = temperature ** 2 * np.sum(q * (np.log(q) - np.log(p))) / len(student)
    params = resolve_params(method, {})
    assert params["temperature"] == temperature  # each method's default is its code's temperature
    loss = get_method(method).loss(torch.tensor(student), torch.zeros(12, dtype=torch.long), torch.tensor(teacher),
                                   **params)["loss"].item()
    assert loss == pytest.approx(code, rel=1e-10)


def test_the_generators_batchnorms_take_0_8_as_eps_as_the_codes_do():
    """RDSKD generator.py:20,25 and DAFL-train.py:66,71 pass 0.8 as BatchNorm2d's second positional argument: eps."""
    reference = torch.nn.BatchNorm2d(8, 0.8)
    generator = Generator((1, 28, 28), width=16)
    for norm in (generator.stage1[1], generator.stage2[1]):
        assert (norm.eps, norm.momentum) == (reference.eps, reference.momentum) == (0.8, 0.1)
    assert generator.to_image[-1].affine is False  # generator.py:29, DAFL-train.py:75


def test_rdskds_two_half_batch_teacher_passes_equal_one_pass_for_lenet5():
    """RDSKD generator-train.py:56-59 runs the teacher on each half of the batch; LeNet-5 has no BatchNorm, so
    kdlib's single pass gives the same logits."""
    torch.manual_seed(0)
    teacher = build_model("lenet5", (1, 28, 28), 10).eval()
    images = torch.randn(16, 1, 28, 28)
    with torch.no_grad():
        halves = torch.cat([teacher(images[:8]), teacher(images[8:])])
        assert torch.allclose(halves, teacher(images), atol=1e-6)


def test_thirds_follows_the_journal_codes_epoch_rule_to_within_a_third_of_an_epoch():
    """pytorch-self-distillation-final train.py:117-119: ÷10 at the start of epochs E//3, 2E//3 and E − 10 (83, 166
    and 240 of 250). kdlib's ``thirds`` drops at a third, two thirds and 96 % of the steps: the same learning rate
    at the end of every epoch, and at the start of every epoch but 83 and 166, which start at the old rate."""
    epochs, base = 250, 0.1
    code, lr = [], base
    for epoch in range(epochs):
        if epoch in (epochs // 3, epochs * 2 // 3, epochs - 10):
            lr /= 10
        code.append(lr)
    steps = 391  # CIFAR's 50,000 images in batches of 128
    starts = [learning_rate("thirds", base, epoch / epochs) for epoch in range(epochs)]
    ends = [learning_rate("thirds", base, (epoch * steps + steps - 1) / (epochs * steps)) for epoch in range(epochs)]
    assert ends == pytest.approx(code)
    assert [e for e in range(epochs) if starts[e] != pytest.approx(code[e])] == [83, 166]


def test_the_record_keeps_the_best_test_epoch_the_codes_report(tiny):
    """Tf-KD train_kd.py:46-61 (its dev loader is the test set, data_loader.py:42-48), DAFL-train.py:201-204 and the
    journal self-distillation code train.py:203-206 keep the epoch with the best test accuracy. A record's
    ``test_acc_max_over_epochs`` is that number, read from its per-epoch history; ``test_acc`` is the last epoch."""
    record = get_or_train(RunSpec("mnist", "mlp_2x100", epochs=3, lr=0.3, val_size=40), progress="off")
    history = [row["test_acc"] for row in record["history"]]
    assert record["metrics"]["test_acc_max_over_epochs"] == max(history)
    assert record["metrics"]["test_acc"] == history[-1]
