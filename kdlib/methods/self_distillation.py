"""Zhang et al. 2019, "Be Your Own Teacher: Improve the Performance of Convolutional Neural Networks via Self
Distillation" (ICCV; arXiv 1905.08094), and its journal version (TPAMI 2021).

A network with classifiers after its shallow stages (``kdlib.models.SelfDistillationNet``) is trained in one stage,
its deepest classifier acting as the teacher of the shallow ones. With exits 1..C, C the deepest:

    CE(q_C, y) + Σ_{i<C} [ (1 − α)·CE(q_i, y) + α·T²·KL(q_C^T ‖ q_i^T) + λ·‖F_i − F_C‖² ]

q are softmax outputs (q^T softened by T), F the pooled features each exit classifies. The rule the book follows
(the papers' "the deepest classifier gets only CE", and the official code's ``.detach()``): the deepest exit's
logits and features enter the shallow terms as constants, so the KD and hint terms train the shallow exits and the
stages they share with the deepest one, never the deepest stage or its classifier. α = λ = 0 is deep supervision:
every exit on labels alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kdlib.losses import kd_divergence
from kdlib.methods import register_method

# The official journal code's weights (0.3 KD, 0.7 CE, T = 3, 0.03 on the feature term); see the chapter for
# how its terms differ from these (no T², an unsquared distance through a learned adaptation layer).
SD_DEFAULTS = {"alpha": 0.3, "temperature": 3.0, "lam": 0.03}


def _check(params: dict[str, float], n_classes: int | None = None) -> None:
    if not 0.0 <= params["alpha"] <= 1.0:
        raise ValueError(f"alpha (the weight of the KD term on each shallow exit) must lie in [0, 1], "
                         f"got {params['alpha']}")
    if not params["temperature"] > 0:
        raise ValueError(f"temperature must be > 0, got {params['temperature']}")
    if not params["lam"] >= 0:
        raise ValueError(f"lam (λ, the weight of the feature hint) must be >= 0, got {params['lam']}")


def feature_hint(features: torch.Tensor, target_features: torch.Tensor) -> torch.Tensor:
    """‖F_i − F_C‖², squared L2 per example, batch mean; no gradient reaches the deepest exit's features."""
    return (features - target_features.detach()).pow(2).sum(dim=1).mean()


@register_method("self_distillation", defaults=SD_DEFAULTS, needs_teacher=False, check=_check, exits=True)
def self_distillation(student_logits, labels, exit_logits, exit_features, alpha, temperature, lam):
    """The loss above; the terms are logged per exit (``ce1``, ``kd1``, ``hint1``, …, ``ce4``)."""
    deepest, deepest_features = exit_logits[-1], exit_features[-1]
    terms = {f"ce{len(exit_logits)}": F.cross_entropy(deepest, labels)}
    loss = terms[f"ce{len(exit_logits)}"]
    for i, (logits, features) in enumerate(zip(exit_logits[:-1], exit_features[:-1]), start=1):
        terms[f"ce{i}"] = F.cross_entropy(logits, labels)
        terms[f"kd{i}"] = kd_divergence(logits, deepest, temperature)  # detaches the deepest logits
        terms[f"hint{i}"] = feature_hint(features, deepest_features)
        loss = loss + (1 - alpha) * terms[f"ce{i}"] + alpha * terms[f"kd{i}"] + lam * terms[f"hint{i}"]
    return {"loss": loss, **terms}


def shallow_term_gradients(model, images: torch.Tensor, labels: torch.Tensor, **params) -> dict[str, float]:
    """The gradient norm that the shallow exits' KD and hint terms alone send to each part of a network: the
    deepest stage and its classifier must get exactly zero. For the chapter's check and the tests."""
    logits, features = model.forward_exits(images)
    values = {**SD_DEFAULTS, **params}
    terms = self_distillation(logits[-1], labels, logits, features, **values)
    shallow = sum(values["alpha"] * terms[f"kd{i}"] + values["lam"] * terms[f"hint{i}"]
                  for i in range(1, len(logits)))
    model.zero_grad(set_to_none=True)
    shallow.backward()
    parts = {"stem": model.stem, **{f"stage{k}": stage for k, stage in enumerate(model.stages, start=1)},
             **{f"{name} branch": branch for name, branch in model.branches.items()},
             **{f"{name} classifier": head for name, head in model.classifiers.items()}}
    norms = {part: float(sum(float((p.grad ** 2).sum()) for p in module.parameters() if p.grad is not None) ** 0.5)
             for part, module in parts.items() if any(True for _ in module.parameters())}
    model.zero_grad(set_to_none=True)
    return norms
