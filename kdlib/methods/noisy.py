"""Sau & Balasubramanian 2016, "Deep Model Compression: Distilling Knowledge from Noisy Teachers" (arXiv 1610.09650).

The student regresses its teacher's logits with an L2 loss (Ba & Caruana 2014, ``logit_regression``). The noisy
teacher perturbs those targets first: each row of the mini-batch is chosen with probability α and its logits scaled
by (1 + ξ), ξ ~ N(0, σ²), drawn afresh at every step (``noisy_teacher``). The paper's comparison puts the same
noise on the student's logits instead (``noisy_student``). The loss is ``kdlib.losses.logit_regression_loss``;
the perturbation is ``kdlib.losses.perturb_logits``. There is no label term: the paper regresses logits only.

With several teachers (``RunSpec.extra_teachers``) the trainer hands each row the logits of one teacher drawn at
random, so every method here also learns from "multiple teachers", the paper's reading of its own noise.

Deviations: the paper gives no architectures, recipe, α or σ, nor whether ξ is per logit or per sample; the book's
choices are in the noisy-teachers chapter.
"""

from __future__ import annotations

from kdlib.losses import logit_regression_loss, perturb_logits
from kdlib.methods import register_method

NOISE_DEFAULTS = {"alpha": 0.5, "sigma": 0.1, "per_sample": 0.0}


def _check_noise(params: dict[str, float], n_classes: int | None = None) -> None:
    if not 0.0 <= params["alpha"] <= 1.0:
        raise ValueError(f"alpha (the probability that a row is perturbed) must lie in [0, 1], got {params['alpha']}")
    if not params["sigma"] >= 0.0:
        raise ValueError(f"sigma (the noise's standard deviation) must be >= 0, got {params['sigma']}")
    if params["per_sample"] not in (0.0, 1.0):
        raise ValueError(f"per_sample must be 0 (one ξ per logit, the paper) or 1 (one ξ per row), "
                         f"got {params['per_sample']}")


@register_method("logit_regression", defaults={}, needs_teacher=True)
def logit_regression(student_logits, labels, teacher_logits):
    """½‖s − z‖²: the student copies the teacher's logits (Ba & Caruana 2014)."""
    l2 = logit_regression_loss(student_logits, teacher_logits)
    return {"loss": l2, "l2": l2}


@register_method("noisy_teacher", defaults=NOISE_DEFAULTS, needs_teacher=True, check=_check_noise)
def noisy_teacher(student_logits, labels, teacher_logits, alpha, sigma, per_sample):
    """½‖s − (1 + ξ) ⊙ z‖² on the chosen rows, ½‖s − z‖² on the others."""
    targets = perturb_logits(teacher_logits.detach(), alpha, sigma, bool(per_sample))
    l2 = logit_regression_loss(student_logits, targets)
    return {"loss": l2, "l2": l2}


@register_method("noisy_student", defaults=NOISE_DEFAULTS, needs_teacher=True, check=_check_noise)
def noisy_student(student_logits, labels, teacher_logits, alpha, sigma, per_sample):
    """½‖(1 + ξ) ⊙ s − z‖²: the same noise on the student's side, the paper's control."""
    l2 = logit_regression_loss(perturb_logits(student_logits, alpha, sigma, bool(per_sample)), teacher_logits)
    return {"loss": l2, "l2": l2}
