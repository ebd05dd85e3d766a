"""Yuan et al. 2020, "Revisiting Knowledge Distillation via Label Smoothing Regularization" (CVPR; arXiv 1909.11723).

Two teacher-free losses (the paper's other variants are the ``kd`` loss with another teacher):
- ``lsr``: label smoothing, Eq. 3, with weight ε;
- ``tf_reg``: Tf-KD_reg, Eq. 9: (1 − α)·CE + α·KL(p^d_τ ‖ p_τ) against the virtual teacher p^d of Eq. 8 (``a`` on
  the true class), softened by τ on both sides.
Normal KD, Re-KD (a weaker model teaches a stronger one), De-KD (a poorly trained teacher) and Tf-KD_self (a model
taught by its own pre-trained copy) differ only in the teacher, so they use ``kd`` (Hinton et al.: with the τ² factor,
which Eq. 4 and 7 omit and the authors' code and their answer in its issue #14 keep).

``official=1`` computes what the released code (yuanli2333/Teacher-free-Knowledge-Distillation) computes instead:
the student is not softened in Tf-KD_reg, the virtual teacher is softmax(p^d / τ) of probabilities, the KL is averaged
over batch × classes (PyTorch's default reduction) and scaled by a per-model ``multiplier``; label smoothing puts
ε/(K − 1) on each wrong class.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from kdlib.methods.base import Params, flag, number, register_method


def virtual_teacher(labels: torch.Tensor, n_classes: int, a: float, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Yuan et al. (2020) Eq. 8: probability ``a`` on the true class and (1 − a)/(K − 1) on each other class."""
    probs = torch.full((len(labels), n_classes), (1.0 - a) / (n_classes - 1), device=labels.device, dtype=dtype)
    return probs.scatter(1, labels[:, None], a)


def soften(probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """A distribution softened by a temperature: p^(1/τ), renormalised.

    This is softmax(log p / τ), i.e. softmax(z / τ) for any logits z of p, so a virtual teacher is softened exactly
    as a real teacher's logits are. (Yuan et al.'s released code takes softmax(p / τ) of the probabilities instead.)
    """
    return F.softmax(torch.log(probs) / temperature, dim=1)


def label_smoothing_loss(student_logits: torch.Tensor, labels: torch.Tensor, epsilon: float,
                         official: bool = False) -> torch.Tensor:
    """Label smoothing as a loss, batch mean.

    Yuan et al. Eq. 3 (the default): (1 − ε)·H(q, p) + ε·KL(u ‖ p), with u uniform over all K classes. Their code
    (``official``): cross-entropy with 1 − ε on the true class and ε/(K − 1) on each other class. Both pull p towards
    the same kind of target; they differ by how much mass the true class keeps and by the constant H(u).
    """
    log_probs = F.log_softmax(student_logits, dim=1)
    classes = student_logits.shape[1]
    if official:
        targets = torch.full_like(log_probs, epsilon / (classes - 1)).scatter(1, labels[:, None], 1.0 - epsilon)
        return -(targets * log_probs).sum(dim=1).mean()
    uniform = torch.full_like(log_probs, 1.0 / classes)
    return ((1.0 - epsilon) * F.nll_loss(log_probs, labels)
            + epsilon * F.kl_div(log_probs, uniform, reduction="batchmean"))


def smoothed_cross_entropy(student_logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """H(targets, p) = −Σ_k targets_k · log p_k, batch mean: cross-entropy against a whole distribution."""
    return -(targets * F.log_softmax(student_logits, dim=1)).sum(dim=1).mean()


OFFICIAL = "compute what the released code computes instead of the paper's equations"


@dataclass(frozen=True)
class LabelSmoothingParams(Params):
    epsilon: float = number(0.1, "the weight of the uniform distribution", low=0.0, high=1.0)
    official: bool = flag(False, OFFICIAL)


@dataclass(frozen=True)
class TeacherFreeParams(Params):
    alpha: float = number(0.1, "the weight of the virtual teacher's term", low=0.0, high=1.0)
    temperature: float = number(20.0, "the softening temperature τ", low=0.0, low_open=True)
    a: float = number(0.99, "the virtual teacher's probability of the true class")  # range: check()
    official: bool = flag(False, OFFICIAL)
    multiplier: float = number(1.0, "the released code's per-model factor on the KL term", low=0.0, low_open=True)

    def check(self, n_classes: int | None) -> None:
        low = 1.0 / n_classes if n_classes else 0.0
        if not low < self.a <= 1.0:
            raise ValueError(f"a (the virtual teacher's probability of the true class) must lie in ({low:g}, 1] so "
                             f"that the true class stays the most likely one, got {self.a}")
        if self.multiplier != 1.0 and not self.official:
            raise ValueError("multiplier exists only in the released code; set official=1 or leave multiplier at 1")


@register_method("lsr", LabelSmoothingParams)
def label_smoothing(student_logits, labels, epsilon, official):
    """(1 − ε)·H(q, p) + ε·KL(u ‖ p), Eq. 3 (or the released code's smoothed labels)."""
    loss = label_smoothing_loss(student_logits, labels, epsilon, official)
    return {"loss": loss, "lsr": loss}


@register_method("tf_reg", TeacherFreeParams)
def teacher_free_regularisation(student_logits, labels, alpha, temperature, a, official, multiplier):
    """(1 − α)·H(q, p) + α·KL(p^d_τ ‖ p_τ), Eq. 9, with p^d the virtual teacher of Eq. 8."""
    ce = F.cross_entropy(student_logits, labels)
    teacher = virtual_teacher(labels, student_logits.shape[1], a, student_logits.dtype)
    if official:
        # nn.KLDivLoss() as released: reduction "mean", i.e. divided by batch × classes
        reg = multiplier * F.kl_div(F.log_softmax(student_logits, dim=1), F.softmax(teacher / temperature, dim=1),
                                    reduction="none").mean()
    else:
        reg = F.kl_div(F.log_softmax(student_logits / temperature, dim=1), soften(teacher, temperature),
                       reduction="batchmean")
    return {"loss": (1.0 - alpha) * ce + alpha * reg, "ce": ce, "reg": reg}
