"""Yuan et al. 2020: label smoothing, the virtual teacher, Tf-KD_reg in both modes, checkpoint teachers, the chapter."""

import copy
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from kdlib import runs
from kdlib.losses import smoothed_cross_entropy, soften, virtual_teacher
from kdlib.methods import get_method, resolve_params
from kdlib.paths import results_dir
from kdlib.runs import RunSpec
from kdlib.train import _learning_rate, train

ROOT = Path(__file__).resolve().parent.parent
RNG = np.random.default_rng(0)
LOGITS = RNG.normal(size=(6, 10)) * 3
LABELS = np.array([0, 3, 9, 1, 1, 7])


def _log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _kl(target, log_q):  # per row: Σ t (log t − log q), with 0 log 0 = 0
    return np.array([sum(t * (math.log(t) - lq) for t, lq in zip(row_t, row_q) if t > 0)
                     for row_t, row_q in zip(target, log_q)])


def _ce(logits, labels):
    return -_log_softmax(logits)[np.arange(len(labels)), labels]


def _loss(name, **params):
    method = get_method(name)
    return method.loss(torch.tensor(LOGITS), torch.tensor(LABELS), **resolve_params(name, params, 10))


def _virtual(a, k=10):
    p = np.full((len(LABELS), k), (1 - a) / (k - 1))
    p[np.arange(len(LABELS)), LABELS] = a
    return p


def test_the_virtual_teacher_puts_a_on_the_true_class_and_sums_to_one():
    p = virtual_teacher(torch.tensor(LABELS), 10, 0.9)
    assert torch.allclose(p.sum(dim=1), torch.ones(6, dtype=p.dtype))
    assert (p[torch.arange(6), torch.tensor(LABELS)] == 0.9).all()
    assert torch.allclose(p[0, 1:], torch.full((9,), 0.1 / 9))


def test_the_softened_virtual_teacher_matches_a_hand_computed_value():
    """K = 10, a = 0.99, τ = 20: p^(1/τ) renormalised gives 0.99^0.05 / (0.99^0.05 + 9 · (0.01/9)^0.05)."""
    true = 0.99 ** 0.05
    other = (0.01 / 9) ** 0.05
    softened = soften(virtual_teacher(torch.tensor([4]), 10, 0.99), 20.0)[0]
    assert softened[4].item() == pytest.approx(true / (true + 9 * other), rel=1e-6)  # 0.1350
    assert softened[4].item() == pytest.approx(0.13497, abs=1e-4)
    assert softened.sum().item() == pytest.approx(1.0)
    assert softened[0].item() == pytest.approx(other / (true + 9 * other), rel=1e-6)


def test_tf_reg_matches_eq_9_computed_independently():
    alpha, tau, a = 0.3, 4.0, 0.95
    target = _virtual(a) ** (1 / tau)
    target /= target.sum(axis=1, keepdims=True)
    expected = np.mean((1 - alpha) * _ce(LOGITS, LABELS) + alpha * _kl(target, _log_softmax(LOGITS / tau)))
    got = _loss("tf_reg", alpha=alpha, temperature=tau, a=a)["loss"].item()
    assert got == pytest.approx(expected, rel=1e-9)


def test_tf_reg_official_matches_the_released_code_computed_independently():
    """KLDivLoss() of log_softmax(s) (no τ) against softmax(p^d / τ), averaged over batch × classes, × multiplier."""
    alpha, tau, multiplier = 0.2, 20.0, 50.0
    teacher = np.exp(_virtual(0.99) / tau)
    teacher /= teacher.sum(axis=1, keepdims=True)
    kl_mean = _kl(teacher, _log_softmax(LOGITS)).sum() / LOGITS.size
    expected = (1 - alpha) * _ce(LOGITS, LABELS).mean() + alpha * multiplier * kl_mean
    got = _loss("tf_reg", alpha=alpha, temperature=tau, official=1, multiplier=multiplier)["loss"].item()
    assert got == pytest.approx(expected, rel=1e-9)
    # the released virtual teacher is close to uniform: 1.0507 / 10.0512 on the true class at τ = 20, K = 10
    assert teacher[0, LABELS[0]] == pytest.approx(math.exp(0.99 / 20) / (math.exp(0.99 / 20) + 9 * math.exp(0.01 / 180)))
    assert teacher[0, LABELS[0]] < 0.105


def test_label_smoothing_matches_eq_3_and_the_released_code():
    eps = 0.2
    uniform = np.full_like(LOGITS, 0.1)
    paper = np.mean((1 - eps) * _ce(LOGITS, LABELS) + eps * _kl(uniform, _log_softmax(LOGITS)))
    assert _loss("lsr", epsilon=eps)["loss"].item() == pytest.approx(paper, rel=1e-9)
    smoothed = np.full_like(LOGITS, eps / 9)
    smoothed[np.arange(6), LABELS] = 1 - eps
    official = np.mean(-(smoothed * _log_softmax(LOGITS)).sum(axis=1))
    assert _loss("lsr", epsilon=eps, official=1)["loss"].item() == pytest.approx(official, rel=1e-9)


@pytest.mark.parametrize("name, params", [("tf_reg", {"alpha": 0.0}), ("tf_reg", {"alpha": 0.0, "official": 1}),
                                          ("lsr", {"epsilon": 0.0}), ("lsr", {"epsilon": 0.0, "official": 1})])
def test_with_no_weight_on_the_extra_term_every_variant_is_plain_cross_entropy(name, params):
    ce = F.cross_entropy(torch.tensor(LOGITS), torch.tensor(LABELS)).item()
    assert _loss(name, **params)["loss"].item() == pytest.approx(ce, rel=1e-12)


def test_kd_with_alpha_zero_is_plain_cross_entropy():
    ce = F.cross_entropy(torch.tensor(LOGITS), torch.tensor(LABELS)).item()
    got = get_method("kd").loss(torch.tensor(LOGITS), torch.tensor(LABELS), torch.tensor(LOGITS[::-1].copy()),
                                temperature=4.0, alpha=0.0)["loss"].item()
    assert got == pytest.approx(ce, rel=1e-12)


def test_kd_is_cross_entropy_with_the_teacher_as_smoothing_distribution():
    """C12 (τ = 1): (1 − α)·H(q, p) + α·KL(p_t ‖ p) = H((1 − α)q + α·p_t, p) − α·H(p_t); with a uniform teacher it
    is label smoothing (Eq. 3) exactly, and the gradients agree."""
    alpha = 0.4
    student = torch.tensor(LOGITS, requires_grad=True)
    labels = torch.tensor(LABELS)
    teacher = torch.tensor(RNG.normal(size=(6, 10)))
    p_t = F.softmax(teacher, dim=1)
    kd = get_method("kd").loss(student, labels, teacher, temperature=1.0, alpha=alpha)["loss"]
    smoothed = (1 - alpha) * F.one_hot(labels, 10).double() + alpha * p_t
    entropy = -(p_t * p_t.log()).sum(dim=1).mean()
    assert kd.item() == pytest.approx((smoothed_cross_entropy(student, smoothed) - alpha * entropy).item(), rel=1e-9)
    uniform_kd = get_method("kd").loss(student, labels, torch.zeros(6, 10, dtype=torch.double), temperature=1.0,
                                       alpha=alpha)["loss"]
    lsr = get_method("lsr").loss(student, labels, epsilon=alpha, official=0.0)["loss"]
    assert uniform_kd.item() == pytest.approx(lsr.item(), rel=1e-12)
    (g_kd,) = torch.autograd.grad(uniform_kd, student)
    (g_lsr,) = torch.autograd.grad(lsr, student)
    assert torch.allclose(g_kd, g_lsr)


@pytest.mark.parametrize("params, message", [
    ({"a": 0.1}, r"a \(the virtual teacher's probability of the true class\) must lie in \(0.1, 1\]"),
    ({"a": 1.2}, r"must lie in \(0.1, 1\]"),
    ({"temperature": 0}, "temperature must be > 0"),
    ({"alpha": 1.5}, r"alpha .* must lie in \[0, 1\]"),
    ({"official": 2}, "official must be 0"),
    ({"multiplier": 50}, "multiplier exists only in the released code"),
    ({"tau": 20}, "has no parameter tau"),
])
def test_bad_tf_reg_parameters_are_refused_before_training(params, message):
    with pytest.raises(ValueError, match=message):
        RunSpec("fashion_mnist", "mlp_2x100", method="tf_reg", method_params=params)


def test_a_depends_on_the_number_of_classes():
    RunSpec("cifar100", "mlp_2x100", method="tf_reg", method_params={"a": 0.05})  # 0.05 > 1/100: fine
    with pytest.raises(ValueError, match=r"\(0.1, 1\]"):
        RunSpec("cifar10", "mlp_2x100", method="tf_reg", method_params={"a": 0.05})
    with pytest.raises(ValueError, match=r"epsilon .* must lie in \[0, 1\]"):
        RunSpec("mnist", "mlp_2x100", method="lsr", method_params={"epsilon": -0.1})


def test_the_cli_refuses_a_bad_virtual_teacher_and_writes_nothing():
    result = subprocess.run([sys.executable, "-m", "kdlib", "run", "--dataset", "mnist", "--model", "mlp_2x100",
                             "--method", "tf_reg", "--param", "a=0.05"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    assert "must lie in (0.1, 1]" in result.stderr
    assert not results_dir().exists() or not list(results_dir().iterdir())


def test_step5_divides_by_five_at_30_60_and_80_percent():
    lr = [_learning_rate("step5", 0.1, p) for p in (0.0, 0.299, 0.3, 0.6, 0.8, 0.99)]
    assert lr == pytest.approx([0.1, 0.1, 0.02, 0.004, 0.0008, 0.0008])


def test_a_stopped_run_is_the_checkpoint_of_the_full_run(tiny):
    """stop_step = one epoch of a 3-epoch run gives exactly the weights the full run has after that epoch."""
    full = RunSpec("mnist", "mlp_2x100", epochs=3, batch_size=32, val_size=40)
    steps = math.ceil((len(tiny.train_images) - 40) / 32)
    saved = []
    train(full, tiny, progress="off", checkpoint=lambda state: saved.append(copy.deepcopy(state)))
    stopped = train(full.replace(stop_step=steps), tiny, progress="off")
    assert len(stopped.history) == 1 and stopped.history[-1]["step"] == steps
    for name, value in stopped.model.state_dict().items():
        assert torch.equal(value, saved[0]["model"][name].cpu()), name
    mid = train(full.replace(stop_step=steps + 2), tiny, progress="off")
    assert mid.history[-1]["step"] == steps + 2 and mid.history[-1]["epoch"] == 2
    with pytest.raises(ValueError, match="stop_step=100 is beyond the run's 21 steps"):
        train(full.replace(stop_step=100), tiny, progress="off")


def test_stop_step_is_part_of_the_id_only_when_set():
    spec = RunSpec("mnist", "lenet5")
    assert "stop_step" not in spec.to_dict()
    stopped = spec.replace(stop_step=30)
    assert stopped.id != spec.id and RunSpec.from_dict(stopped.to_dict()) == stopped
    with pytest.raises(ValueError, match="stop_step must be a positive integer"):
        spec.replace(stop_step=0)


def test_the_chapter_chooses_on_validation_never_on_test(tiny):
    from kdlib.chapters import teacher_free

    with pytest.raises(FileNotFoundError, match="no run record"):
        teacher_free.chosen("smoke", train_missing=False)
    results_dir().mkdir(parents=True)
    grids = teacher_free.grids("cpu")
    for family, specs in grids.items():  # fake records: validation prefers the last cell, test the first
        for index, spec in enumerate(specs.values()):
            metrics = {"val_acc": 0.5 + index / 100, "test_acc": 0.9 - index / 100}
            (results_dir() / f"{spec.id}.json").write_text(json.dumps({"metrics": metrics}))
    chosen = teacher_free.chosen("cpu", train_missing=False)
    assert all(chosen[family] == list(specs.values())[-1] for family, specs in grids.items())


def test_the_chapter_declares_every_role_in_every_profile():
    from kdlib.chapters import teacher_free

    for profile in ("smoke", "cpu", "paper"):
        b = teacher_free.budget(profile)
        first = teacher_free.stage_one(profile)
        for stronger, weaker in teacher_free.pairs(profile):  # Re-KD: the weaker model's run teaches
            assert teacher_free.teacher(profile, weaker) in first and teacher_free.teacher(profile, stronger) in first
        poor = teacher_free.poor_teacher(profile, b["models"][2])
        assert poor in first and poor.stop_step == b["poor_teacher_step"] and poor.seed == 0
    cpu = teacher_free.budget("cpu")
    assert len(cpu["seeds"]) >= 3 and cpu["dataset"] == "fashion_mnist"
    assert teacher_free.budget("paper")["dataset"] == "cifar100"
    assert teacher_free.budget("paper")["schedule"] == "step5" and teacher_free.budget("paper")["epochs"] == 200

