"""Zhang et al. 2019, "Be Your Own Teacher: Improve the Performance of Convolutional Neural Networks via Self
Distillation" (ICCV; arXiv 1905.08094), and its journal version (TPAMI 2021).

A network with classifiers after its shallow stages (``SelfDistillationNet``, below) is trained in one stage,
its deepest classifier acting as the teacher of the shallow ones. With exits 1..C, C the deepest:

    CE(q_C, y) + Σ_{i<C} [ (1 − α)·CE(q_i, y) + α·T²·KL(q_C^T ‖ q_i^T) + λ·‖F_i − F_C‖² ]

q are softmax outputs (q^T softened by T), F the pooled features each exit classifies. The rule the book follows
(the papers' "the deepest classifier gets only CE", and the official code's ``.detach()``): the deepest exit's
logits and features enter the shallow terms as constants, so the KD and hint terms train the shallow exits and the
stages they share with the deepest one, never the deepest stage or its classifier. α = λ = 0 is deep supervision:
every exit on labels alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from kdlib.losses import kd_divergence
from kdlib.methods.base import Params, number, register_method
from kdlib.models import BasicBlock, register_model


# --- the networks ------------------------------------------------------------------------------------------------

SD_VARIANTS = ("iccv", "tpami")


def _separable(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """Two depthwise-separable 3×3 convolutions (the first strided), each followed by BN and ReLU: TPAMI's SepConv."""
    return nn.Sequential(
        nn.Conv2d(in_channels, in_channels, 3, stride, 1, groups=in_channels, bias=False),
        nn.Conv2d(in_channels, in_channels, 1, bias=False), nn.BatchNorm2d(in_channels), nn.ReLU(),
        nn.Conv2d(in_channels, in_channels, 3, 1, 1, groups=in_channels, bias=False),
        nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU())


class Attention(nn.Module):
    """TPAMI's attention module: a strided SepConv, upsampled back to the input's size, squashed by a sigmoid into a
    mask in (0, 1) that is multiplied into the stage's output before the exit's branch."""

    def __init__(self, channels: int):
        super().__init__()
        self.mask = _separable(channels, channels, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = nn.functional.interpolate(self.mask(x), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return x * torch.sigmoid(mask)


def _branch(variant: str, widths: tuple[int, ...], stage: int) -> nn.Module:
    """What brings stage ``stage``'s output (0-based) down to the deepest stage's width before pooling.

    ``iccv``: a bottleneck, 1×1 conv → k×k conv of stride k (k = 2 per stage still to go) → 1×1 conv, each with BN
    and ReLU, as the public ICCV re-implementation builds it. ``tpami``: the attention module, then one strided
    SepConv per stage still to go, doubling the width each time, as the official journal code builds it.
    """
    remaining = len(widths) - 1 - stage
    if remaining == 0:
        return nn.Identity()
    width_in, width_out = widths[stage], widths[-1]
    if variant == "iccv":
        middle, scale = width_out // 4, 2 ** remaining
        return nn.Sequential(
            nn.Conv2d(width_in, middle, 1, bias=False), nn.BatchNorm2d(middle), nn.ReLU(),
            nn.Conv2d(middle, middle, scale, scale, bias=False), nn.BatchNorm2d(middle), nn.ReLU(),
            nn.Conv2d(middle, width_out, 1, bias=False), nn.BatchNorm2d(width_out), nn.ReLU())
    return nn.Sequential(Attention(width_in),
                         *[_separable(widths[i], widths[i + 1], 2) for i in range(stage, len(widths) - 1)])


class MultiExitNet(nn.Module):
    """A network cut into stages with a classifier ("exit") after some of them, numbered from 1 (shallowest); the
    deepest built stage's exit is the network's own head. Subclasses build ``stem``, ``stages`` (a ModuleList) and,
    keyed ``exit<k>``, ``branches`` (what brings stage k's output to the deepest exit's feature width) and
    ``classifiers``. Parameter names do not depend on which exits are built, so the parts of a network with every
    exit and of a single exit's path map onto each other."""

    exits: tuple[int, ...]

    @staticmethod
    def _check_exits(exits: tuple[int, ...], n_stages: int) -> tuple[int, ...]:
        if not exits or sorted(set(exits)) != list(exits) or not 1 <= exits[0] <= exits[-1] <= n_stages:
            raise ValueError(f"exits must be increasing stage numbers within 1..{n_stages}, got {exits}")
        return tuple(exits)

    @property
    def n_exits(self) -> int:
        return len(self.exits)

    def _exit(self, k: int, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.branches[f"exit{k}"](x)
        if features.dim() == 4:  # feature maps: global average pooling
            features = torch.flatten(nn.functional.adaptive_avg_pool2d(features, 1), 1)
        return self.classifiers[f"exit{k}"](features), features

    def forward_exits(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Logits and pooled features of every exit, shallowest first, from one pass through the trunk."""
        logits, features = [], []
        x = self.stem(x)
        for stage_number, stage in enumerate(self.stages, start=1):
            x = stage(x)
            if stage_number in self.exits:
                out, feat = self._exit(stage_number, x)
                logits.append(out)
                features.append(feat)
        return logits, features

    def forward_exit(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """Early exit: the logits of exit ``k``, running only the stem, stages 1..k and that exit."""
        if k not in self.exits:
            raise ValueError(f"this network has exits {self.exits}, not {k}")
        x = self.stem(x)
        for stage in self.stages[:k]:
            x = stage(x)
        return self._exit(k, x)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_exit(x, self.exits[-1])

    @property
    def heads(self) -> tuple[str, ...]:
        """Every exit (``exit1`` the shallowest) and their ensemble, the sum of all exits' logits (as the official
        code sums them), the deepest exit being the network's own head; a network cut to one exit is a plain
        classifier."""
        if self.n_exits == 1:
            return ("",)
        return ("", *(f"exit{k}" for k in range(1, self.n_exits + 1)), "ensemble")

    def training_outputs(self, x: torch.Tensor) -> dict:
        if self.n_exits == 1:
            return {"logits": self(x)}
        logits, features = self.forward_exits(x)
        return {"logits": logits[-1], "exit_logits": logits, "exit_features": features}

    def evaluation_heads(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.n_exits == 1:
            return {"": self(x)}
        stacked = torch.stack(self.forward_exits(x)[0], 1)  # one pass through the trunk for every exit
        return {"": stacked[:, -1], **{f"exit{k + 1}": stacked[:, k] for k in range(self.n_exits)},
                "ensemble": stacked.sum(1)}

    def exit_network(self, k: int) -> nn.Module:
        """Exit ``k`` as a module of its own (sharing this network's weights): what deploying that exit costs."""
        return _ExitView(self, k)


class SelfDistillationNet(MultiExitNet):
    """A ResNet of four stages with exits after some of them, exit 4 being the network's own head.

    ``exits=(1, 2, 3, 4)`` is the self-distillation network; ``(4,)`` the plain ResNet; ``(k,)`` for k < 4 the
    exit-k path alone (stem, stages 1..k, exit k's branch and classifier), a small network with exactly the
    parameters and cost of that exit, to train on its own for comparison. Only the stages up to the deepest exit are
    built.
    """

    def __init__(self, image_shape, n_classes: int, widths: tuple[int, ...], blocks_per_stage: int, variant: str,
                 exits: tuple[int, ...] = (1, 2, 3, 4)):
        super().__init__()
        if variant not in SD_VARIANTS:
            raise ValueError(f"unknown self-distillation variant {variant!r}; choose one of: {', '.join(SD_VARIANTS)}")
        self.variant, self.exits = variant, self._check_exits(exits, len(widths))
        self.stem = nn.Sequential(nn.Conv2d(image_shape[0], widths[0], 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU())
        stages, in_channels = [], widths[0]
        for index, width in enumerate(widths[:exits[-1]]):
            blocks = [BasicBlock(in_channels if b == 0 else width, width, 2 if index > 0 and b == 0 else 1)
                      for b in range(blocks_per_stage)]
            stages.append(nn.Sequential(*blocks))
            in_channels = width
        self.stages = nn.ModuleList(stages)
        self.branches = nn.ModuleDict({f"exit{k}": _branch(variant, widths, k - 1) for k in exits})
        self.classifiers = nn.ModuleDict({f"exit{k}": nn.Linear(widths[-1], n_classes) for k in exits})


class LeNetWithExits(MultiExitNet):
    """LeNet-5-half (``lenet5_half``) cut into three stages, with an exit after each: the synthesis chapter's
    self-distilled student, whose deepest exit is exactly LeNet-5-half (same layers, same cost).

    Stage 1: conv3-5×5, pool; stage 2: conv8-5×5, pool; stage 3: conv60-5×5, fc42 (the 42 features exit 3
    classifies). Exit 1's branch is a conv8-5×5 and pool, then flatten and fc42; exit 2's is flatten and fc42, each
    ending in ReLU so every exit hands 42 features to its classifier, as the feature hint needs."""

    def __init__(self, image_shape, n_classes: int, exits: tuple[int, ...] = (1, 2, 3)):
        super().__init__()
        self.exits = self._check_exits(exits, 3)
        channels, height, _ = image_shape
        pad = 2 if height == 28 else 0  # 28×28 inputs are padded to LeNet's 32×32
        self.stem = nn.Identity()
        self.stages = nn.ModuleList([
            nn.Sequential(nn.Conv2d(channels, 3, 5, padding=pad), nn.ReLU(), nn.MaxPool2d(2)),
            nn.Sequential(nn.Conv2d(3, 8, 5), nn.ReLU(), nn.MaxPool2d(2)),
            nn.Sequential(nn.Conv2d(8, 60, 5), nn.ReLU(), nn.Flatten(), nn.Linear(60, 42), nn.ReLU())][:exits[-1]])
        branches = {1: lambda: nn.Sequential(nn.Conv2d(3, 8, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                             nn.Linear(8 * 5 * 5, 42), nn.ReLU()),
                    2: lambda: nn.Sequential(nn.Flatten(), nn.Linear(8 * 5 * 5, 42), nn.ReLU()),
                    3: nn.Identity}
        self.branches = nn.ModuleDict({f"exit{k}": branches[k]() for k in exits})
        self.classifiers = nn.ModuleDict({f"exit{k}": nn.Linear(42, n_classes) for k in exits})


class _ExitView(nn.Module):
    def __init__(self, network: MultiExitNet, k: int):
        super().__init__()
        if k not in network.exits:
            raise ValueError(f"this network has exits {network.exits}, not {k}")
        self.k = k
        self.stem, self.stages = network.stem, network.stages[:k]
        self.branch, self.classifier = network.branches[f"exit{k}"], network.classifiers[f"exit{k}"]
        self._network = [network]  # a list, so the whole network is not registered as a submodule

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._network[0].forward_exit(x, self.k)


_SD_BACKBONES = {  # name: (widths, blocks per stage)
    "resnet18": ((64, 128, 256, 512), 2),  # the papers' CIFAR ResNet-18 (3×3 stem, no max-pool)
    "resnet10_narrow": ((16, 32, 64, 128), 1),  # the book's CPU-sized backbone: one block per stage, narrow
}


def _self_distillation(backbone: str, variant: str, exits: tuple[int, ...]):
    widths, blocks = _SD_BACKBONES[backbone]

    def build(image_shape, n_classes):
        return SelfDistillationNet(image_shape, n_classes, widths, blocks, variant, exits)
    what = ("with an exit after every stage" if len(exits) > 1 else
            "alone (no shallow exits)" if exits == (4,) else f"cut at exit {exits[0]}: that exit's path alone")
    build.__doc__ = f"{backbone} ({variant} exits) {what}."
    return build


for _backbone in _SD_BACKBONES:
    register_model(_self_distillation(_backbone, "iccv", (4,)), name=_backbone)
    for _variant in SD_VARIANTS:
        register_model(_self_distillation(_backbone, _variant, (1, 2, 3, 4)), name=f"{_backbone}_sd_{_variant}",
                       kind="exits")
        for _k in (1, 2, 3):
            register_model(_self_distillation(_backbone, _variant, (_k,)), name=f"{_backbone}_exit{_k}_{_variant}")


@register_model(name="lenet5_half_sd_exits", kind="exits")
def _lenet5_half_sd_exits(image_shape, n_classes):
    """LeNet-5-half with an exit after each of its three stages."""
    return LeNetWithExits(image_shape, n_classes)


# --- the loss ----------------------------------------------------------------------------------------------------

# The official journal code's weights (0.3 KD, 0.7 CE, T = 3, 0.03 on the feature term); see the chapter for
# how its terms differ from these (no T², an unsquared distance through a learned adaptation layer).
@dataclass(frozen=True)
class SelfDistillationParams(Params):
    alpha: float = number(0.3, "the weight of the KD term on each shallow exit", low=0.0, high=1.0)
    temperature: float = number(3.0, "the temperature of the KD terms", low=0.0, low_open=True)
    lam: float = number(0.03, "λ, the weight of the feature hint", low=0.0)


def feature_hint(features: torch.Tensor, target_features: torch.Tensor) -> torch.Tensor:
    """‖F_i − F_C‖², squared L2 per example, batch mean; no gradient reaches the deepest exit's features."""
    return (features - target_features.detach()).pow(2).sum(dim=1).mean()


@register_method("self_distillation", SelfDistillationParams, model_kind="exits")
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
    values = SelfDistillationParams.parse(params).as_dict()
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
