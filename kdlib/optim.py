"""The optimisers and learning-rate schedules a spec can name (``RunSpec.optimizer``, ``RunSpec.schedule``).

Besides SGD, Adam and the usual decays, one recipe comes from a paper outside the book's five: the dropout training of
Hinton et al. 2012, which Hinton et al. 2015 §3 points to for its MNIST teacher (its own optimiser, a decaying rate
and a rising momentum, compressed into a run's epochs). The trainer reads them from here and knows no paper.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from kdlib.models import is_convolutional


SCHEDULES = ("cosine", "warmup_cosine", "constant", "step", "step5", "step5_50_75", "thirds", "hinton2012")


def learning_rate(schedule: str, base_lr: float, progress: float, warmup: float = 0.0) -> float:
    """Learning rate at ``progress`` ∈ [0, 1) of training: cosine to zero, constant, ÷10 at 50 % and 75 % (``step``),
    or ÷5 at 30 %, 60 % and 80 % (``step5``: epochs 60, 120 and 160 of 200, the CIFAR recipe of Yuan et al.), or ÷5
    at 50 % and 75 % (``step5_50_75``: the Rocket chapter's R-1 testbed, with Adam; the paper's SVHN recipe also
    steps by ×0.2, at epochs 20, 40 and 60 of a total it does not state), or ÷10 at a third, two thirds and 96 %
    (``thirds``: epochs 83, 166 and 240 of 250, the official self-distillation code), or ×0.998 per epoch of Hinton
    et al. 2012's 3000 (``hinton2012``, compressed into the run's epochs).

    ``warmup_cosine`` ramps linearly from zero over the first ``warmup`` of training (the trainer passes one epoch),
    then follows the cosine: large soft-target gradients at high T can otherwise wreck a fresh student.
    """
    if schedule == "warmup_cosine":
        ramp = min(1.0, (progress + 1e-12) / warmup) if warmup > 0 else 1.0
        return ramp * learning_rate("cosine", base_lr, progress)
    if schedule == "cosine":
        return base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))
    if schedule == "step":
        return base_lr * (0.1 ** ((progress >= 0.5) + (progress >= 0.75)))
    if schedule == "step5":
        return base_lr * (0.2 ** ((progress >= 0.3) + (progress >= 0.6) + (progress >= 0.8)))
    if schedule == "step5_50_75":
        return base_lr * (0.2 ** ((progress >= 0.5) + (progress >= 0.75)))
    if schedule == "thirds":
        return base_lr * (0.1 ** ((progress >= 1 / 3) + (progress >= 2 / 3) + (progress >= 0.96)))
    if schedule == "hinton2012":
        return base_lr * recipe_rate_factor(progress)
    if schedule == "constant":
        return base_lr
    raise ValueError(f"unknown schedule {schedule!r}; choose one of: {', '.join(SCHEDULES)}")


def momentum(spec, progress: float) -> float:
    """The momentum at ``progress`` of training: constant, except under the 2012 dropout recipe's linear ramp."""
    if spec.schedule != "hinton2012":
        return spec.momentum
    return recipe_momentum(spec.momentum, progress)


OPTIMIZERS = ("sgd", "adam", "hinton2012")


def build_optimizer(spec, model: nn.Module) -> torch.optim.Optimizer:
    """The spec's optimiser for ``model``: SGD (Nesterov momentum when momentum > 0), Adam, or the 2012 recipe's."""
    if spec.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    if spec.optimizer == "hinton2012":
        if is_convolutional(model) or not hidden_weights(model):
            raise ValueError(f"optimizer 'hinton2012' bounds the hidden units' incoming weights of a fully connected "
                             f"network, and {spec.model!r} is not one (convolutions, or no hidden layer); use it "
                             f"with an MLP (e.g. mlp_2x1200_dropout)")
        return recipe_optimizer(model, spec.lr, momentum(spec, 0.0))
    if spec.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=spec.lr, momentum=spec.momentum,
                               weight_decay=spec.weight_decay, nesterov=spec.momentum > 0)
    raise ValueError(f"unknown optimizer {spec.optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}")


# Hinton et al. 2012 (arXiv:1207.0580), appendix A, the recipe Hinton et al. 2015 §3 points to for its MNIST teacher:
# 3000 epochs of 100-image batches; ε_t = ε_0 · 0.998^t; momentum rising linearly from 0.5 to 0.99 over the first
# 500 epochs; Δw_t = p_t Δw_{t-1} − (1 − p_t) ε_t ∇w; after every update, each hidden unit's incoming weight vector
# is scaled back to squared length at most 15. A run of E epochs follows this schedule compressed in time: epoch e
# of the run stands for epoch e · 3000 / E of the recipe, so it ends with the recipe's final rate and momentum.
HINTON2012_EPOCHS = 3000
HINTON2012_DECAY = 0.998
HINTON2012_MOMENTUM_EPOCHS = 500
HINTON2012_INITIAL_MOMENTUM = 0.5
HINTON2012_SQUARED_LENGTH = 15.0


def recipe_rate_factor(progress: float) -> float:
    """ε_t / ε_0 at ``progress`` ∈ [0, 1) of a run that compresses the recipe's 3000 epochs."""
    return HINTON2012_DECAY ** (progress * HINTON2012_EPOCHS)


def recipe_momentum(final: float, progress: float) -> float:
    """The momentum at ``progress``: from 0.5 up to ``final`` over the recipe's first 500 (compressed) epochs."""
    ramp = min(1.0, progress * HINTON2012_EPOCHS / HINTON2012_MOMENTUM_EPOCHS)
    return HINTON2012_INITIAL_MOMENTUM + ramp * (final - HINTON2012_INITIAL_MOMENTUM)


class DropoutPaperSGD(torch.optim.Optimizer):
    """The update of Hinton et al. 2012: Δw = p·Δw − (1 − p)·ε·∇w, then a max-norm projection.

    Not torch's SGD with dampening, whose velocity is multiplied by the current rate: here the rate in force when a
    gradient arrived stays in its share of the velocity, as the paper writes the update. Groups with ``max_norm``
    hold weight matrices (out × in) whose rows are each rescaled to L2 norm at most ``max_norm``.
    """

    def __init__(self, groups, lr: float, momentum: float):
        super().__init__(groups, dict(lr=lr, momentum=momentum, max_norm=None))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self.state[param]
                if "velocity" not in state:
                    state["velocity"] = torch.zeros_like(param)
                velocity = state["velocity"]
                velocity.mul_(group["momentum"]).add_(param.grad, alpha=-(1 - group["momentum"]) * group["lr"])
                param.add_(velocity)
                if group["max_norm"] is not None:
                    norms = param.norm(dim=1, keepdim=True)
                    param.mul_(torch.clamp(group["max_norm"] / norms.clamp_min(1e-12), max=1.0))


def hidden_weights(model: nn.Module) -> list[nn.Parameter]:
    """The weight matrices of every fully connected layer but the last (the output layer): the hidden units whose
    incoming weights the 2012 recipe bounds. Relies on the layers being registered in forward order, as
    ``kdlib.models``' MLPs are."""
    linear = [module for module in model.modules() if isinstance(module, nn.Linear)]
    return [module.weight for module in linear[:-1]]


def recipe_optimizer(model: nn.Module, lr: float, momentum: float) -> DropoutPaperSGD:
    """The recipe's optimiser for an MLP: its hidden weight matrices bounded (rows at squared length ≤ 15)."""
    bounded = hidden_weights(model)
    ids = {id(weight) for weight in bounded}
    rest = [param for param in model.parameters() if id(param) not in ids]
    return DropoutPaperSGD([{"params": bounded, "max_norm": math.sqrt(HINTON2012_SQUARED_LENGTH)},
                            {"params": rest}], lr=lr, momentum=momentum)
