"""Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural Network" (arXiv 1503.02531).

The student matches the teacher's temperature-softened distribution (Eq. 1) as well as the labels; the soft term is
scaled by T² (§2). Equation and reduction: ``kdlib.losses.hinton_kd_loss``.

Deviations: the paper trains for far longer and (for the teacher) with max-norm constraints and a decaying learning
rate; the book's budgets and schedule are in the introduction chapter's setup table.
"""

from __future__ import annotations

from kdlib.losses import hinton_kd_loss
from kdlib.methods import register_method


def _check(params: dict[str, float], n_classes: int | None = None) -> None:
    if params["temperature"] <= 0:
        raise ValueError(f"temperature must be > 0, got {params['temperature']}")
    if not 0.0 <= params["alpha"] <= 1.0:
        raise ValueError(f"alpha (the weight of the soft term) must lie in [0, 1], got {params['alpha']}")


@register_method("kd", defaults={"temperature": 4.0, "alpha": 0.9}, needs_teacher=True, check=_check)
def knowledge_distillation(student_logits, labels, teacher_logits, temperature, alpha):
    """(1 − α)·CE + α·T²·KL(teacher_T ‖ student_T)."""
    return hinton_kd_loss(student_logits, labels, teacher_logits, temperature, alpha)
