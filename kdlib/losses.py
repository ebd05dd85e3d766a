"""Losses shared by several methods, written as the papers' equations on plain tensors.

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


def hinton_kd_loss(student_logits: torch.Tensor, labels: torch.Tensor, teacher_logits: torch.Tensor,
                   temperature: float, alpha: float) -> dict[str, torch.Tensor]:
    """(1 − α) · CE(y, p) + α · T² · KL(p_T^teacher ‖ p_T^student); named terms, the total under ``"loss"``.

    α weighs the soft term, as in most later papers; Hinton et al. describe a weighted average with a "considerably
    lower weight" on the hard term, i.e. α close to 1.
    """
    ce = F.cross_entropy(student_logits, labels)
    kd = kd_divergence(student_logits, teacher_logits, temperature)
    return {"loss": (1.0 - alpha) * ce + alpha * kd, "ce": ce, "kd": kd}


def soft_gradient_norm(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> float:
    """‖∂(T²·KL)/∂z_student‖: shows that the T² factor keeps the soft term's pull constant as T grows."""
    logits = student_logits.detach().clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(kd_divergence(logits, teacher_logits, temperature), logits)
    return gradient.norm().item()


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
    chosen = torch.rand(rows, 1, generator=generator, device=logits.device) < alpha
    shape = (rows, 1) if per_sample else (rows, classes)
    xi = sigma * torch.randn(shape, generator=generator, device=logits.device, dtype=logits.dtype)
    return logits * (1.0 + xi * chosen)


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
