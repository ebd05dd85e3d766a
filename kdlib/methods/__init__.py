"""Methods, looked up by name: each paper's in its own module, registered on import. The contract a method keeps
(typed parameters, model kind, loss, feed, phases, report) is ``kdlib.methods.base``."""

from __future__ import annotations

import torch.nn.functional as F

from kdlib.methods.base import (METHODS, Context, Method, NoParams, Params, Phase, describe_params,  # noqa: F401
                                get_method, parse_params, register_method, resolve_params)


@register_method("ce")
def cross_entropy(student_logits, labels):
    """The student on labels alone: the baseline every method is compared with."""
    ce = F.cross_entropy(student_logits, labels)
    return {"loss": ce, "ce": ce}


from kdlib.methods import data_free, hinton, noisy, rocket, self_distillation, teacher_free  # noqa: E402,F401  (register them)
