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

import torch.nn.functional as F

from kdlib.losses import label_smoothing_loss, soften, virtual_teacher
from kdlib.methods import register_method


def _check_mode(params: dict[str, float]) -> None:
    if params["official"] not in (0.0, 1.0):
        raise ValueError(f"official must be 0 (the paper's equations) or 1 (the released code), "
                         f"got {params['official']}")


def _check_lsr(params: dict[str, float], n_classes: int | None = None) -> None:
    _check_mode(params)
    if not 0.0 <= params["epsilon"] <= 1.0:
        raise ValueError(f"epsilon (the weight of the uniform distribution) must lie in [0, 1], "
                         f"got {params['epsilon']}")


def _check_reg(params: dict[str, float], n_classes: int | None = None) -> None:
    _check_mode(params)
    if not 0.0 <= params["alpha"] <= 1.0:
        raise ValueError(f"alpha (the weight of the virtual teacher's term) must lie in [0, 1], got {params['alpha']}")
    if not params["temperature"] > 0:
        raise ValueError(f"temperature must be > 0, got {params['temperature']}")
    low = 1.0 / n_classes if n_classes else 0.0
    if not low < params["a"] <= 1.0:
        raise ValueError(f"a (the virtual teacher's probability of the true class) must lie in ({low:g}, 1] so that "
                         f"the true class stays the most likely one, got {params['a']}")
    if not params["multiplier"] > 0:
        raise ValueError(f"multiplier must be > 0, got {params['multiplier']}")
    if params["multiplier"] != 1.0 and not params["official"]:
        raise ValueError("multiplier exists only in the released code; set official=1 or leave multiplier at 1")


@register_method("lsr", defaults={"epsilon": 0.1, "official": 0.0}, needs_teacher=False, check=_check_lsr)
def label_smoothing(student_logits, labels, epsilon, official):
    """(1 − ε)·H(q, p) + ε·KL(u ‖ p), Eq. 3 (or the released code's smoothed labels)."""
    loss = label_smoothing_loss(student_logits, labels, epsilon, bool(official))
    return {"loss": loss, "lsr": loss}


@register_method("tf_reg", defaults={"alpha": 0.1, "temperature": 20.0, "a": 0.99, "official": 0.0,
                                     "multiplier": 1.0}, needs_teacher=False, check=_check_reg)
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
