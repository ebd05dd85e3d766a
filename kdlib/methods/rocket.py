"""Zhou et al. 2018, "Rocket Launching: A Universal and Efficient Framework for Training Well-performing Light Net"
(AAAI; arXiv 1708.04106).

A light net and a booster (``kdlib.models.RocketNet``) train together, Eq. 1:
    H(y, p) + H(y, q) + λ · hint(l, z),
with l, p the light net's logits and softmax, z, q the booster's. The adopted hint is L_mimic = ‖l − z‖² (squared
L2 of the logit difference per sample, batch mean, as the official code computes it); Table 3's alternatives are
L_MSE = ‖p − q‖² on softmax outputs and L_KD, a temperature-softened KD loss (here T²·KL(q_T ‖ p_T), the book's
form). Gradient block: the hint sees the booster's logits detached, so it trains the light net and the shared
layers (through the light net) but never the booster's own parameters, which learn from the labels alone.

``rocket_kd`` adds KD from a separately pre-trained booster (the teacher) to the light net; ``mimic`` is the
"no joint training" ablation: a light net (initialised from a trained booster) learning CE + λ·‖l − z‖² against the
fixed booster's logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kdlib.losses import kd_divergence
from kdlib.methods import register_method

HINTS = ("mimic", "mse", "kd")  # the values 0, 1, 2 of the ``hint`` parameter
ROCKET_DEFAULTS = {"lam": 0.03, "hint": 0.0, "temperature": 4.0, "grad_block": 1.0}


def hint_loss(light_logits: torch.Tensor, booster_logits: torch.Tensor, hint: str, temperature: float = 4.0):
    """One of the paper's hint losses between the light net and the booster, averaged over the batch."""
    if hint == "mimic":
        return (light_logits - booster_logits).pow(2).sum(dim=1).mean()
    if hint == "mse":
        return (F.softmax(light_logits, dim=1) - F.softmax(booster_logits, dim=1)).pow(2).sum(dim=1).mean()
    if hint == "kd":  # written out: kdlib.losses.kd_divergence always detaches its teacher
        return temperature ** 2 * F.kl_div(F.log_softmax(light_logits / temperature, dim=1),
                                           F.softmax(booster_logits / temperature, dim=1), reduction="batchmean")
    raise ValueError(f"unknown hint {hint!r}; choose one of: {', '.join(HINTS)}")


def _check(params: dict[str, float], n_classes: int | None = None) -> None:
    if not params["lam"] >= 0:
        raise ValueError(f"lam (λ, the weight of the hint loss) must be >= 0, got {params['lam']}")
    if params["hint"] not in range(len(HINTS)):
        raise ValueError(f"hint must be 0 (mimic: ‖l − z‖²), 1 (mse: ‖p − q‖²) or 2 (kd), got {params['hint']}")
    if not params["temperature"] > 0:
        raise ValueError(f"temperature must be > 0, got {params['temperature']}")
    if params["grad_block"] not in (0.0, 1.0):
        raise ValueError(f"grad_block must be 0 (off) or 1 (on), got {params['grad_block']}")
    if "alpha" in params and not 0.0 <= params["alpha"] <= 1.0:
        raise ValueError(f"alpha (the weight of the KD term) must lie in [0, 1], got {params['alpha']}")


def _rocket_terms(light_logits, labels, booster_logits, lam, hint, temperature, grad_block):
    ce_light = F.cross_entropy(light_logits, labels)
    ce_booster = F.cross_entropy(booster_logits, labels)
    target = booster_logits.detach() if grad_block else booster_logits
    hint_value = hint_loss(light_logits, target, HINTS[int(hint)], temperature)
    return {"loss": ce_light + ce_booster + lam * hint_value, "ce_light": ce_light, "ce_booster": ce_booster,
            "hint": hint_value}


@register_method("rocket", defaults=ROCKET_DEFAULTS, needs_teacher=False, check=_check, joint=True)
def rocket(student_logits, labels, booster_logits, lam, hint, temperature, grad_block):
    """H(y, p) + H(y, q) + λ·hint(l, z), Eq. 1; the booster's logits detached in the hint under gradient block."""
    return _rocket_terms(student_logits, labels, booster_logits, lam, hint, temperature, grad_block)


@register_method("rocket_kd", defaults={**ROCKET_DEFAULTS, "alpha": 0.9}, needs_teacher=True, check=_check,
                 joint=True)
def rocket_kd(student_logits, labels, booster_logits, teacher_logits, lam, hint, temperature, grad_block, alpha):
    """Rocket plus α·T²·KL(teacher_T ‖ light_T) from a separately pre-trained booster; the light net's CE keeps
    weight 1, as in the official code."""
    terms = _rocket_terms(student_logits, labels, booster_logits, lam, hint, temperature, grad_block)
    kd = kd_divergence(student_logits, teacher_logits, temperature)
    return {**terms, "loss": terms["loss"] + alpha * kd, "kd": kd}


@register_method("mimic", defaults={"lam": 0.03}, needs_teacher=True,
                 check=lambda params, n_classes=None: _check({**ROCKET_DEFAULTS, **params}))
def mimic(student_logits, labels, teacher_logits, lam):
    """CE + λ·‖l − z‖² against a fixed, already trained booster: Rocket without joint training (Table 2)."""
    ce = F.cross_entropy(student_logits, labels)
    hint_value = hint_loss(student_logits, teacher_logits.detach(), "mimic")
    return {"loss": ce + lam * hint_value, "ce": ce, "hint": hint_value}


def hint_gradient_norms(model, images: torch.Tensor, labels: torch.Tensor, grad_block: float,
                        **params) -> dict[str, float]:
    """The gradient norm that the hint term alone sends to each role of a Rocket pair's parameters ("shared",
    "light", "booster"): with gradient block the booster's own parameters must get exactly zero."""
    light, booster = model.forward_both(images)
    terms = rocket(light, labels, booster, **{**ROCKET_DEFAULTS, **params, "grad_block": grad_block})
    model.zero_grad(set_to_none=True)
    terms["hint"].backward()
    norms = {role: float(sum(float((p.grad ** 2).sum()) for p in group if p.grad is not None) ** 0.5)
             for role, group in model.parameter_roles().items()}
    model.zero_grad(set_to_none=True)
    return norms
