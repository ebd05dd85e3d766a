"""Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural Network" (arXiv 1503.02531).

The student matches the teacher's temperature-softened distribution (Eq. 1) as well as the labels; the soft term is
scaled by T² (§2); the KD term and its reduction are ``kdlib.losses.kd_divergence``.

Deviations: the paper trains for far longer and (for the teacher) with max-norm constraints and a decaying learning
rate; the book's budgets and schedule are in the introduction chapter's setup table.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from kdlib.losses import kd_divergence
from kdlib.methods.base import Params, number, register_method


def hinton_kd_loss(student_logits: torch.Tensor, labels: torch.Tensor, teacher_logits: torch.Tensor,
                   temperature: float, alpha: float, scale: float = 1.0) -> dict[str, torch.Tensor]:
    """(1 − α) · CE(y, p) + α · s · T² · KL(p_T^teacher ‖ p_T^student); named terms, the total under ``"loss"``.

    α weighs the soft term, as in most later papers; Hinton et al. describe a weighted average with a "considerably
    lower weight" on the hard term, i.e. α close to 1. ``scale`` s is 1 in the book's convention (KL summed over the
    classes); the released codes of two chapters average the KL over batch × classes instead, which is s = 2/K
    (Rocket Launching, whose term also carries a factor 2) or s = 1/K (Tf-KD).
    """
    ce = F.cross_entropy(student_logits, labels)
    kd = scale * kd_divergence(student_logits, teacher_logits, temperature)
    return {"loss": (1.0 - alpha) * ce + alpha * kd, "ce": ce, "kd": kd}


@dataclass(frozen=True)
class KDParams(Params):
    temperature: float = number(4.0, "the softening temperature T", low=0.0, low_open=True)
    alpha: float = number(0.9, "the weight of the soft term", low=0.0, high=1.0)
    scale: float = number(1.0, "a factor on the soft term (2/K: the Rocket code's reduction, 1/K: the Tf-KD code's)",
                          low=0.0, low_open=True)


@register_method("kd", KDParams, needs_teacher=True)
def knowledge_distillation(student_logits, labels, teacher_logits, temperature, alpha, scale=1.0):
    """(1 − α)·CE + α·s·T²·KL(teacher_T ‖ student_T)."""
    return hinton_kd_loss(student_logits, labels, teacher_logits, temperature, alpha, scale)
