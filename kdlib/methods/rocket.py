"""Zhou et al. 2018, "Rocket Launching: A Universal and Efficient Framework for Training Well-performing Light Net"
(AAAI; arXiv 1708.04106): its networks (light net and booster pairs: Wide ResNets as on CIFAR, and an MLP pair
sharing its bottom layer as in the ads experiment) and its losses.

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


# --- the ads-style MLP pair (the paper's Table 5 design; the book's R-1 testbed) -----------------------------------
# On the ads data the light net and the booster share their bottom (the embedding layer) and differ above it: the
# booster has more and wider hidden layers. Here the bottom is one fully connected layer of 256 ReLUs on the flattened
# image; the light tower is one hidden layer (64 units, or 32 in R-1's second fallback), the booster's two of 1,024,
# each followed by dropout (0.2, the paper's SVHN value for every booster-specific layer). The booster trained alone
# keeps its dropout, as the paper's booster-only baseline does. An MLP has one place to branch, so it has only the
# bottom scheme (and no sharing, the ablation); interval sharing is refused.

MLP_BOTTOM, MLP_BOOSTER, MLP_DROPOUT = 256, (1024, 1024), 0.2
MLP_SHARING = ("bottom", "none")


def mlp_tower(width: int, hidden: tuple[int, ...], n_classes: int, dropout: float = 0.0) -> nn.Sequential:
    """Hidden layers on a ``width``-wide input, each Linear → ReLU (→ Dropout where ``dropout`` > 0), then the
    classifier."""
    layers: list[nn.Module] = []
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU(), *([nn.Dropout(dropout)] if dropout else [])]
        width = size
    return nn.Sequential(*layers, nn.Linear(width, n_classes))


class TowerMLP(nn.Module):
    """An MLP cut where a Rocket pair branches: ``bottom`` (flatten, one Linear → ReLU of ``MLP_BOTTOM`` units), then
    ``tower`` (``mlp_tower``). The light net and the booster alone are two of them, with the same layer names, so a
    light net started from a trained booster (``init_from_teacher``) inherits exactly the bottom."""

    def __init__(self, image_shape, n_classes: int, hidden: tuple[int, ...], dropout: float = 0.0):
        super().__init__()
        channels, height, width = image_shape
        self.bottom = nn.Sequential(nn.Flatten(), nn.Linear(channels * height * width, MLP_BOTTOM), nn.ReLU())
        self.tower = mlp_tower(MLP_BOTTOM, hidden, n_classes, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tower(self.bottom(x))


def mlp_light(image_shape, n_classes: int, width: int = 64) -> TowerMLP:
    return TowerMLP(image_shape, n_classes, (width,))


def mlp_booster(image_shape, n_classes: int) -> TowerMLP:
    return TowerMLP(image_shape, n_classes, MLP_BOOSTER, MLP_DROPOUT)


@register_model
def mlp_256_64(image_shape, n_classes):
    """R-1's light net alone: 784-256-64-10, ReLU, no dropout."""
    return mlp_light(image_shape, n_classes, 64)


@register_model
def mlp_256_32(image_shape, n_classes):
    """R-1's narrower light net alone (its second fallback): 784-256-32-10, ReLU, no dropout."""
    return mlp_light(image_shape, n_classes, 32)


@register_model
def mlp_256_1024x2_drop20(image_shape, n_classes):
    """R-1's booster alone: 784-256-1024-1024-10, ReLU, dropout 0.2 after each 1,024-unit layer."""
    return mlp_booster(image_shape, n_classes)


class MLPRocketNet(_Pair):
    """An MLP light net and booster sharing their bottom layer (the paper's ads design, Table 5). Calling it runs
    the light net alone: the booster's bottom, then the light tower; ``forward_both`` computes the bottom once."""

    def __init__(self, image_shape, n_classes: int, light_width: int = 64):
        super().__init__()
        self.booster = mlp_booster(image_shape, n_classes)
        self.light_tower = mlp_tower(MLP_BOTTOM, (light_width,), n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.light_tower(self.booster.bottom(x))

    def forward_both(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shared = self.booster.bottom(x)
        return self.light_tower(shared), self.booster.tower(shared)

    def parameter_roles(self) -> dict[str, list[nn.Parameter]]:
        return {"shared": list(self.booster.bottom.parameters()), "light": list(self.light_tower.parameters()),
                "booster": list(self.booster.tower.parameters())}

    def light_parameter_count(self) -> int:
        return count_parameters(self.booster.bottom) + count_parameters(self.light_tower)


def mlp_pair(image_shape, n_classes: int, light_width: int, sharing: str) -> _Pair:
    """R-1's pair: bottom sharing (``MLPRocketNet``) or none (``PairNet`` of the light net and booster alone)."""
    check_mlp_sharing(sharing)
    if sharing == "bottom":
        return MLPRocketNet(image_shape, n_classes, light_width)
    return PairNet(mlp_light(image_shape, n_classes, light_width), mlp_booster(image_shape, n_classes))


def check_mlp_sharing(sharing: str) -> None:
    """Refuse a sharing scheme an MLP pair does not have, naming what to use instead."""
    if sharing == "interval":
        raise ValueError("an MLP pair has no interval sharing: that scheme reuses the first blocks of each of a "
                         "WRN's three groups, and an MLP has one place to branch, its bottom layer; use "
                         "sharing='bottom' (the paper's ads design) or 'none', or a WRN pair such as "
                         "rocket_10_16_1_interval for interval sharing")
    if sharing not in MLP_SHARING:
        raise ValueError(f"unknown sharing scheme {sharing!r} for an MLP pair; choose one of: {', '.join(MLP_SHARING)}")


def _rocket_mlp(light_width: int, sharing: str):
    def build(image_shape, n_classes):
        return mlp_pair(image_shape, n_classes, light_width, sharing)
    build.__doc__ = (f"Rocket MLP pair (R-1): light 784-256-{light_width}-10, booster 784-256-1024-1024-10 with "
                     f"dropout 0.2, {sharing} sharing.")
    return build


for _light_width in (64, 32):
    for _sharing in MLP_SHARING:
        register_model(_rocket_mlp(_light_width, _sharing), name=f"rocket_mlp_{_light_width}_1024_{_sharing}",
                       kind="pair")


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
