"""Methods: a loss on student logits (and teacher logits when the method has a teacher), looked up by name.

A method never calls ``backward()`` or builds an optimiser; the trainer does. It returns named terms with the total
under ``"loss"``; the trainer logs every term.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Method:
    name: str
    loss: Callable[..., dict[str, torch.Tensor]]
    defaults: dict[str, float]
    needs_teacher: bool
    check: Callable[[dict[str, float], int | None], None]  # (params, number of classes when known)
    joint: bool = False  # trains a light net and a booster together: the loss also gets ``booster_logits``
    exits: bool = False  # trains a multi-exit network: the loss gets ``exit_logits`` and ``exit_features``, deepest last
    # where the training images come from: "data" (the real training set), or, for data-free KD, "noise",
    # "generator" (a frozen pre-trained one), "joint_generator" (trained alongside) or "latent" (a generator run)
    inputs: str = "data"


METHODS: dict[str, Method] = {}


def _no_check(params: dict[str, float], n_classes: int | None = None) -> None:
    return None


def register_method(name: str, defaults: dict[str, float], needs_teacher: bool,
                    check: Callable[[dict[str, float], int | None], None] = _no_check, joint: bool = False,
                    exits: bool = False, inputs: str = "data"):
    def decorate(loss):
        METHODS[name] = Method(name, loss, dict(defaults), needs_teacher, check, joint, exits, inputs)
        return loss
    return decorate


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; known methods: {', '.join(sorted(METHODS))}")
    return METHODS[name]


def resolve_params(name: str, params: dict[str, float], n_classes: int | None = None) -> dict[str, float]:
    """The method's defaults updated with ``params``; an unknown knob or a bad value raises ValueError.

    ``n_classes`` (the dataset's) lets a check refuse values that only make sense for some class counts."""
    method = get_method(name)
    unknown = sorted(set(params) - set(method.defaults))
    if unknown:
        allowed = ", ".join(sorted(method.defaults)) or "none"
        raise ValueError(f"method {name!r} has no parameter {', '.join(unknown)}; its parameters: {allowed}")
    merged = {**method.defaults, **{key: float(value) for key, value in params.items()}}
    method.check(merged, n_classes)
    return merged


@register_method("ce", defaults={}, needs_teacher=False)
def cross_entropy(student_logits, labels, teacher_logits=None):
    """The student on labels alone: the baseline every method is compared with."""
    ce = F.cross_entropy(student_logits, labels)
    return {"loss": ce, "ce": ce}


from kdlib.methods import data_free, hinton, noisy, rocket, self_distillation, teacher_free  # noqa: E402,F401  (register the other methods)
