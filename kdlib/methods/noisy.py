"""Sau & Balasubramanian 2016, "Deep Model Compression: Distilling Knowledge from Noisy Teachers" (arXiv 1610.09650).

The student regresses its teacher's logits with an L2 loss (Ba & Caruana 2014, ``logit_regression``). The noisy
teacher perturbs those targets first: each row of the mini-batch is chosen with probability α and its logits scaled
by (1 + ξ), ξ ~ N(0, σ²), drawn afresh at every step (``noisy_teacher``). The paper's comparison puts the same
noise on the student's logits instead (``noisy_student``). The loss is ``logit_regression_loss``; the
perturbation is ``perturb_logits``. There is no label term: the paper regresses logits only.

With several teachers (``RunSpec.extra_teachers``) the trainer hands each row the logits of one teacher drawn at
random, so every method here also learns from "multiple teachers", the paper's reading of its own noise.

Deviations: the paper gives no architectures, recipe, α or σ, nor whether ξ is per logit or per sample; the book's
choices are in the noisy-teachers chapter.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from kdlib.methods.base import Params, flag, number, register_method


def logit_regression_loss(student_logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """½ ‖s − z‖², summed over logits, averaged over the batch: Ba & Caruana (2014)'s L2 regression on logits.

    No gradient reaches the targets (the teacher's logits, possibly perturbed)."""
    return 0.5 * (student_logits - targets.detach()).pow(2).sum(dim=1).mean()


def perturb_logits(logits: torch.Tensor, alpha: float, sigma: float, per_sample: bool = False,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """z' = (1 + ξ) ⊙ z on each row chosen with probability α; ξ ~ N(0, σ²) per logit, or one ξ per row.

    Sau & Balasubramanian (2016) write ξ ~ N(0, σ²I): one draw per logit, the default here. ``per_sample`` draws
    one scalar per row and scales the whole row with it, as chengshengchan/model_compression does. Rows that are not
    chosen are returned unchanged; gradients flow through z' where z requires them (noise on the student).
    """
    rows, classes = logits.shape
    shape = (rows, 1) if per_sample else (rows, classes)
    if generator is None:  # the global stream of the logits' device, as every record so far was drawn
        chosen = torch.rand(rows, 1, device=logits.device) < alpha
        xi = sigma * torch.randn(shape, device=logits.device, dtype=logits.dtype)
    else:  # drawn where the generator lives (a CPU generator cannot fill a CUDA tensor), then moved
        chosen = (torch.rand(rows, 1, generator=generator, device=generator.device) < alpha).to(logits.device)
        xi = sigma * torch.randn(shape, generator=generator, device=generator.device,
                                 dtype=logits.dtype).to(logits.device)
    return logits * (1.0 + xi * chosen)


@dataclass(frozen=True)
class NoiseParams(Params):
    alpha: float = number(0.5, "the probability that a row is perturbed", low=0.0, high=1.0)
    sigma: float = number(0.1, "the noise's standard deviation", low=0.0)
    per_sample: bool = flag(False, "one ξ per row instead of one per logit (the paper)")


@register_method("logit_regression", needs_teacher=True)
def logit_regression(student_logits, labels, teacher_logits):
    """½‖s − z‖²: the student copies the teacher's logits (Ba & Caruana 2014)."""
    l2 = logit_regression_loss(student_logits, teacher_logits)
    return {"loss": l2, "l2": l2}


@register_method("noisy_teacher", NoiseParams, needs_teacher=True)
def noisy_teacher(student_logits, labels, teacher_logits, alpha, sigma, per_sample):
    """½‖s − (1 + ξ) ⊙ z‖² on the chosen rows, ½‖s − z‖² on the others."""
    targets = perturb_logits(teacher_logits.detach(), alpha, sigma, per_sample)
    l2 = logit_regression_loss(student_logits, targets)
    return {"loss": l2, "l2": l2}


@register_method("noisy_student", NoiseParams, needs_teacher=True)
def noisy_student(student_logits, labels, teacher_logits, alpha, sigma, per_sample):
    """½‖(1 + ξ) ⊙ s − z‖²: the same noise on the student's side, the paper's control."""
    l2 = logit_regression_loss(perturb_logits(student_logits, alpha, sigma, per_sample), teacher_logits)
    return {"loss": l2, "l2": l2}
