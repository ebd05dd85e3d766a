"""The KD loss against Hinton et al.'s equations, computed independently in NumPy."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from kdlib.losses import kd_divergence, soft_gradient_norm, soft_targets
from kdlib.methods.hinton import hinton_kd_loss
from kdlib.methods import get_method, resolve_params


def _softmax(z, t):
    e = np.exp((z - z.max(axis=1, keepdims=True)) / t)
    return e / e.sum(axis=1, keepdims=True)


def _reference_loss(student, teacher, labels, t, alpha):
    """(1 − α)·CE + α·T²·mean_batch Σ_i q_i (log q_i − log p_i), written out by hand."""
    p1 = _softmax(student, 1.0)
    ce = -np.mean(np.log(p1[np.arange(len(labels)), labels]))
    q, p = _softmax(teacher, t), _softmax(student, t)
    kl = np.mean(np.sum(q * (np.log(q) - np.log(p)), axis=1))
    return (1 - alpha) * ce + alpha * t * t * kl, ce, t * t * kl


@pytest.mark.parametrize("t, alpha", [(1.0, 0.5), (4.0, 0.9), (20.0, 0.1)])
def test_kd_loss_matches_the_equation(t, alpha):
    rng = np.random.default_rng(0)
    student, teacher = rng.normal(size=(16, 10)) * 3, rng.normal(size=(16, 10)) * 3
    labels = rng.integers(0, 10, size=16)
    terms = hinton_kd_loss(torch.tensor(student), torch.tensor(labels), torch.tensor(teacher), t, alpha)
    total, ce, kd = _reference_loss(student, teacher, labels, t, alpha)
    assert terms["loss"].item() == pytest.approx(total, rel=1e-10)
    assert terms["ce"].item() == pytest.approx(ce, rel=1e-10)
    assert terms["kd"].item() == pytest.approx(kd, rel=1e-10)


def _released_code_loss(student, teacher, labels, t, alpha, factor):
    """The KD baselines of the Rocket (factor 2) and Tf-KD (factor 1) codes, written out: the KL averaged over
    batch × classes (PyTorch's old default reduction), times factor·α·T², plus (1 − α)·CE."""
    p1 = _softmax(student, 1.0)
    ce = -np.mean(np.log(p1[np.arange(len(labels)), labels]))
    q, p = _softmax(teacher, t), _softmax(student, t)
    kl_per_entry = np.mean(q * (np.log(q) - np.log(p)))
    return (1 - alpha) * ce + factor * alpha * t * t * kl_per_entry


@pytest.mark.parametrize("factor, classes", [(2.0, 10), (1.0, 10), (2.0, 100), (1.0, 100)])
def test_scale_reproduces_the_released_codes_kd_terms(factor, classes):
    """s = 2/K is the Rocket code's KD baseline, s = 1/K the Tf-KD code's (the chapters' "official" variants)."""
    rng = np.random.default_rng(classes)
    student, teacher = rng.normal(size=(12, classes)) * 3, rng.normal(size=(12, classes)) * 3
    labels = rng.integers(0, classes, size=12)
    loss = get_method("kd").loss(torch.tensor(student), torch.tensor(labels), torch.tensor(teacher),
                                 **resolve_params("kd", {"alpha": 0.9, "temperature": 4.0,
                                                         "scale": factor / classes}))["loss"]
    assert loss.item() == pytest.approx(_released_code_loss(student, teacher, labels, 4.0, 0.9, factor), rel=1e-10)
    assert loss.item() != pytest.approx(_reference_loss(student, teacher, labels, 4.0, 0.9)[0], rel=1e-3)


def test_kl_is_per_example_not_per_class():
    """batchmean: summed over classes. PyTorch's default "mean" would be 10x smaller with 10 classes."""
    student, teacher = torch.randn(8, 10), torch.randn(8, 10)
    q, log_p = F.softmax(teacher, 1), F.log_softmax(student, 1)
    averaged_over_classes_too = (q * (q.log() - log_p)).mean()  # what reduction="mean" computes
    assert kd_divergence(student, teacher, 1.0).item() == pytest.approx(10 * averaged_over_classes_too.item(), rel=1e-5)


def test_soft_term_gradient_keeps_its_scale_with_t_squared():
    """Hinton §2: for large T the gradient of the softened KL shrinks as 1/T²; the T² factor cancels that."""
    student, teacher = torch.randn(64, 10) * 0.5, torch.randn(64, 10) * 0.5
    norms = {}
    for t in (10.0, 20.0, 40.0):
        norms[t] = soft_gradient_norm(student, teacher, t)
    assert norms[20.0] / norms[10.0] == pytest.approx(1.0, abs=0.05)
    assert norms[40.0] / norms[10.0] == pytest.approx(1.0, abs=0.05)
    # ... and without the factor the gradient would fall by 16x from T=10 to T=40
    assert (norms[40.0] / 40 ** 2) / (norms[10.0] / 10 ** 2) == pytest.approx(1 / 16, rel=0.05)


def test_no_gradient_reaches_the_teacher():
    student = torch.randn(4, 10, requires_grad=True)
    teacher = torch.randn(4, 10, requires_grad=True)
    hinton_kd_loss(student, torch.tensor([0, 1, 2, 3]), teacher, 4.0, 0.9)["loss"].backward()
    assert teacher.grad is None
    assert student.grad.abs().sum() > 0


def test_soft_gradient_is_zero_when_student_equals_teacher():
    logits = torch.randn(5, 10)
    student = logits.clone().requires_grad_(True)
    kd_divergence(student, logits, 3.0).backward()
    assert torch.allclose(student.grad, torch.zeros_like(student.grad), atol=1e-7)


def test_alpha_zero_is_plain_cross_entropy():
    student, teacher, labels = torch.randn(6, 10), torch.randn(6, 10), torch.randint(0, 10, (6,))
    assert hinton_kd_loss(student, labels, teacher, 4.0, 0.0)["loss"].item() == \
        pytest.approx(F.cross_entropy(student, labels).item())


def test_soft_targets_flatten_with_temperature():
    z = torch.tensor([[3.0, 1.0, 0.0]])
    assert soft_targets(z, 10.0).max() < soft_targets(z, 1.0).max()
    assert torch.allclose(soft_targets(z, 1.0).sum(1), torch.ones(1))


def test_method_parameters_are_checked():
    with pytest.raises(ValueError, match="no parameter temp; its parameters: alpha, scale, temperature"):
        resolve_params("kd", {"temp": 4})
    with pytest.raises(ValueError, match="alpha .* must lie in \\[0, 1\\], got 1.5"):
        resolve_params("kd", {"alpha": 1.5})
    with pytest.raises(ValueError, match=r"temperature \(the softening temperature T\) must be > 0"):
        resolve_params("kd", {"temperature": 0})
    with pytest.raises(ValueError, match="unknown method 'kdd'; known methods: ce, (.*, )?kd, "):
        get_method("kdd")
