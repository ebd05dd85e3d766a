"""The KD term several methods share (Hinton et al. 2015, Eq. 1 and §2), written on plain tensors; each paper's own
equations live with its method in ``kdlib.methods``.

Reductions are explicit. KL divergences are summed over classes and averaged over the batch
(``reduction="batchmean"``), which is the divergence per example that the equations mean. PyTorch's default
``"mean"`` divides by the number of classes as well; the official Tf-KD and Rocket Launching code use it and make
up for it with ad-hoc multipliers (see those chapters).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_targets(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(z / T): the softened distribution of Hinton et al. 2015, Eq. 1."""
    return F.softmax(logits / temperature, dim=1)


def kd_divergence(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """T² · KL(p_T(teacher) ‖ p_T(student)), batch mean.

    The T² factor keeps the gradient of the soft term on the same scale as the hard term when T changes: the
    gradient of the softened cross-entropy shrinks as 1/T² (Hinton et al. 2015, §2). No gradient reaches the
    teacher: its logits are detached.
    """
    student_log_probs = F.log_softmax(student_logits / temperature, dim=1)
    teacher_probs = soft_targets(teacher_logits.detach(), temperature)
    return temperature ** 2 * F.kl_div(student_log_probs, teacher_probs, reduction="batchmean")


def fidelity(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> dict[str, float]:
    """How closely a student imitates its teacher on the same images (Stanton et al. 2021, "Does knowledge
    distillation really work?"): the share of images on which their top-1 classes agree, and KL(teacher ‖ student)
    at T = 1 in nats per image. A KD gain in accuracy with low agreement is regularisation more than imitation."""
    agreement = (student_logits.argmax(1) == teacher_logits.argmax(1)).float().mean().item()
    return {"teacher_agreement": agreement, "teacher_kl": kd_divergence(student_logits, teacher_logits, 1.0).item()}


def soft_gradient_norm(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> float:
    """‖∂(T²·KL)/∂z_student‖: shows that the T² factor keeps the soft term's pull constant as T grows."""
    logits = student_logits.detach().clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(kd_divergence(logits, teacher_logits, temperature), logits)
    return gradient.norm().item()
