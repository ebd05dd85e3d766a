"""Zhou et al. 2018, "Rocket Launching: A Universal and Efficient Framework for Training Well-performing Light Net"
(AAAI; arXiv 1708.04106): its networks (light net and booster pairs) and its losses.

A light net and a booster (``RocketNet``) train together, Eq. 1:
    H(y, p) + H(y, q) + λ · hint(l, z),
with l, p the light net's logits and softmax, z, q the booster's. The adopted hint is L_mimic = ‖l − z‖² (squared
L2 of the logit difference per sample, averaged over the batch); Table 3's alternatives are L_MSE = ‖p − q‖² on
softmax outputs and L_KD, a temperature-softened KD loss (here T²·KL(q_T ‖ p_T), the book's form). Gradient block:
the hint sees the booster's logits detached, so it trains the light net and the shared layers (through the light
net) but never the booster's own parameters, which learn from the labels alone.

``rocket_kd`` adds KD from a separately pre-trained booster (the teacher) to the light net; ``mimic`` is the
"no joint training" ablation: a light net (initialised from a trained booster) learning CE + λ·‖l − z‖² against the
fixed booster's logits.

Conventions where kdlib and the official code (zhougr1993/Rocket-Launching) differ, on purpose:
- the hint's batch mean divides by the batch's real size; the code divides the summed hint by the configured
  ``batchSize`` (128), so there a partial last batch weighs its hint by (its size)/128 against kdlib's 1;
- the KD term is α·T²·KL with KL summed over the classes and averaged over the batch (``kdlib.losses``); the code
  computes 2α·T²·KL averaged over batch × classes, so at the same α and T kdlib's KD term is K/2 times the code's
  (5× on 10 classes). The chapter's deviation box says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from kdlib.losses import kd_divergence
from kdlib.methods.base import Params, choice, flag, number, register_method
from kdlib.models import WideResNet, count_parameters, lenet5, lenet5_half, register_model, wide_group

HINTS = ("mimic", "mse", "kd")


# --- the networks ------------------------------------------------------------------------------------------------


class _Pair(nn.Module):
    """What every Rocket pair tells the trainer: the light net's and the booster's logits for training, both as
    heads for evaluation (the light net, the one deployed, is the network's own head), and the light net's size."""

    heads = ("", "booster")

    def training_outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        light, booster = self.forward_both(x)
        return {"logits": light, "booster_logits": booster}

    def evaluation_heads(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"": self(x), "booster": self.booster(x)}

    def size_metrics(self) -> dict[str, int]:
        return {"n_params_light": self.light_parameter_count()}


SHARING = ("interval", "bottom", "none")


class RocketNet(_Pair):
    """A light net and a booster trained together (Zhou et al. 2018, Fig. 3). Calling it runs the light net alone,
    which is what gets deployed; ``forward_both`` returns (light logits, booster logits) for training.

    Sharing schemes:
    - ``interval`` (Fig. 3b): the light net has the booster's depth pattern cut short. It runs the booster's stem
      and the convolutions of the first (d_light − 4)/6 blocks of *each* group, with its own BatchNorm layers and
      classifier (as the official code does);
    - ``bottom`` (Fig. 3a): the light net branches off the booster after the stem and the first group (computed
      once, shared outright) and has groups two and three of its own;
    - ``none``: two separate networks, still trained jointly (the ablation of Table 2).
    """

    def __init__(self, image_shape, n_classes: int, light_depth: int, booster_depth: int, width: int, sharing: str):
        super().__init__()
        if sharing not in SHARING:
            raise ValueError(f"unknown sharing scheme {sharing!r}; choose one of: {', '.join(SHARING)}")
        self.sharing = sharing
        self.booster = WideResNet(image_shape, n_classes, booster_depth, width)
        light_blocks = (light_depth - 4) // 6
        if sharing == "interval":
            self.light_norms = nn.ModuleList(
                nn.ModuleList(nn.ModuleList([nn.BatchNorm2d(block.bn1.num_features),
                                             nn.BatchNorm2d(block.bn2.num_features)])
                              for block in group[:light_blocks]) for group in self.booster.groups)
        elif sharing == "bottom":
            widths = (32 * width, 64 * width)
            self.light_groups = nn.ModuleList([wide_group(16 * width, widths[0], light_blocks, 2),
                                               wide_group(widths[0], widths[1], light_blocks, 2)])
        else:
            self.light = WideResNet(image_shape, n_classes, light_depth, width)
        if sharing != "none":
            self.light_bn = nn.BatchNorm2d(64 * width)
            self.light_fc = nn.Linear(64 * width, n_classes)

    def _light_from(self, stem: torch.Tensor, first_group: torch.Tensor | None) -> torch.Tensor:
        if self.sharing == "interval":
            x = stem
            for group, norms in zip(self.booster.groups, self.light_norms):
                for block, pair in zip(group, norms):
                    x = block(x, norms=tuple(pair))
        else:
            x = first_group
            for group in self.light_groups:
                for block in group:
                    x = block(x)
        return self.booster.head(x, self.light_bn, self.light_fc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.sharing == "none":
            return self.light(x)
        stem = self.booster.conv0(x)
        first = None
        if self.sharing == "bottom":
            first = stem
            for block in self.booster.groups[0]:
                first = block(first)
        return self._light_from(stem, first)

    def forward_both(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.sharing == "none":
            return self.light(x), self.booster(x)
        stem = x = self.booster.conv0(x)
        first = None
        for index, group in enumerate(self.booster.groups):
            for block in group:
                x = block(x)
            if index == 0:
                first = x
        return self._light_from(stem, first), self.booster.head(x)

    def parameter_roles(self) -> dict[str, list[nn.Parameter]]:
        """Each parameter once, as "shared" (used by both nets), "light" or "booster" (used by one net only)."""
        light_ids = {id(p) for name, p in self.named_parameters() if not name.startswith("booster.")}
        if self.sharing == "interval":
            blocks = [block for group, norms in zip(self.booster.groups, self.light_norms)
                      for block in group[:len(norms)]]
            shared = [self.booster.conv0.weight] + [p for block in blocks for name, p in block.named_parameters()
                                                    if not name.startswith("bn")]
        elif self.sharing == "bottom":
            shared = [self.booster.conv0.weight, *self.booster.groups[0].parameters()]
        else:
            shared = []
        shared_ids = {id(p) for p in shared}
        roles = {"shared": shared, "light": [], "booster": []}
        for p in self.parameters():
            if id(p) not in shared_ids:
                roles["light" if id(p) in light_ids else "booster"].append(p)
        return roles

    def light_parameter_count(self) -> int:
        roles = self.parameter_roles()
        return sum(p.numel() for p in roles["shared"] + roles["light"])


def _rocket(light: int, booster: int, width: int, sharing: str):
    def build(image_shape, n_classes):
        return RocketNet(image_shape, n_classes, light, booster, width, sharing)
    build.__doc__ = f"Rocket pair: light WRN-{light}-{width}, booster WRN-{booster}-{width}, {sharing} sharing."
    return build


# The paper's pairs (WRN-16-1/40-1, WRN-16-2/40-2) and the book's CPU-sized pair (WRN-10-1/16-1).
for _light, _booster, _width in ((16, 40, 1), (16, 40, 2), (10, 16, 1)):
    for _sharing in SHARING:
        register_model(_rocket(_light, _booster, _width, _sharing), name=f"rocket_{_light}_{_booster}_{_width}_{_sharing}",
                       kind="pair")


class PairNet(_Pair):
    """Two separate networks trained together by a joint method (Rocket Launching without sharing), for networks
    that ``RocketNet``'s Wide-ResNet sharing schemes do not cover. Calling it runs the light net alone."""

    def __init__(self, light: nn.Module, booster: nn.Module):
        super().__init__()
        self.light, self.booster = light, booster

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.light(x)

    def forward_both(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.light(x), self.booster(x)

    def parameter_roles(self) -> dict[str, list[nn.Parameter]]:
        return {"shared": [], "light": list(self.light.parameters()), "booster": list(self.booster.parameters())}

    def light_parameter_count(self) -> int:
        return count_parameters(self.light)


@register_model(kind="pair")
def rocket_lenet5half_lenet5_none(image_shape, n_classes):
    """Rocket pair without sharing: light LeNet-5-half, booster LeNet-5."""
    return PairNet(lenet5_half(image_shape, n_classes), lenet5(image_shape, n_classes))


# --- the losses --------------------------------------------------------------------------------------------------

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


@dataclass(frozen=True)
class RocketParams(Params):
    lam: float = number(0.03, "λ, the weight of the hint loss", low=0.0)
    hint: str = choice("mimic", "the hint loss: mimic ‖l − z‖², mse ‖p − q‖² or kd", HINTS)
    temperature: float = number(4.0, "the temperature of the kd hint", low=0.0, low_open=True)
    grad_block: bool = flag(True, "the hint sees the booster's logits detached")


@dataclass(frozen=True)
class RocketKDParams(RocketParams):
    alpha: float = number(0.9, "the weight of the KD term from the pre-trained booster", low=0.0, high=1.0)


@dataclass(frozen=True)
class MimicParams(Params):
    lam: float = number(0.03, "λ, the weight of the hint loss", low=0.0)


def _rocket_terms(light_logits, labels, booster_logits, lam, hint, temperature, grad_block):
    ce_light = F.cross_entropy(light_logits, labels)
    ce_booster = F.cross_entropy(booster_logits, labels)
    target = booster_logits.detach() if grad_block else booster_logits
    hint_value = hint_loss(light_logits, target, hint, temperature)
    return {"loss": ce_light + ce_booster + lam * hint_value, "ce_light": ce_light, "ce_booster": ce_booster,
            "hint": hint_value}


@register_method("rocket", RocketParams, model_kind="pair")
def rocket(student_logits, labels, booster_logits, lam, hint, temperature, grad_block):
    """H(y, p) + H(y, q) + λ·hint(l, z), Eq. 1; the booster's logits detached in the hint under gradient block."""
    return _rocket_terms(student_logits, labels, booster_logits, lam, hint, temperature, grad_block)


@register_method("rocket_kd", RocketKDParams, needs_teacher=True, model_kind="pair")
def rocket_kd(student_logits, labels, booster_logits, teacher_logits, lam, hint, temperature, grad_block, alpha):
    """Rocket plus α·T²·KL(teacher_T ‖ light_T) from a separately pre-trained booster. The light net's CE keeps
    weight 1, as in the official code; the KD term is K/2 times the code's at the same α and T (module docstring)."""
    terms = _rocket_terms(student_logits, labels, booster_logits, lam, hint, temperature, grad_block)
    kd = kd_divergence(student_logits, teacher_logits, temperature)
    return {**terms, "loss": terms["loss"] + alpha * kd, "kd": kd}


@register_method("mimic", MimicParams, needs_teacher=True)
def mimic(student_logits, labels, teacher_logits, lam):
    """CE + λ·‖l − z‖² against a fixed, already trained booster: Rocket without joint training (Table 2)."""
    ce = F.cross_entropy(student_logits, labels)
    hint_value = hint_loss(student_logits, teacher_logits.detach(), "mimic")
    return {"loss": ce + lam * hint_value, "ce": ce, "hint": hint_value}


def hint_gradient_norms(model, images: torch.Tensor, labels: torch.Tensor, grad_block: bool,
                        **params) -> dict[str, float]:
    """The gradient norm that the hint term alone sends to each role of a Rocket pair's parameters ("shared",
    "light", "booster"): with gradient block the booster's own parameters must get exactly zero."""
    light, booster = model.forward_both(images)
    terms = rocket(light, labels, booster, **RocketParams.parse({**params, "grad_block": grad_block}).as_dict())
    model.zero_grad(set_to_none=True)
    terms["hint"].backward()
    norms = {role: float(sum(float((p.grad ** 2).sum()) for p in group if p.grad is not None) ** 0.5)
             for role, group in model.parameter_roles().items()}
    model.zero_grad(set_to_none=True)
    return norms
