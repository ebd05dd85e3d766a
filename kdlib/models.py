"""The teachers and students of the book, looked up by name.

Every builder takes the image shape ``(C, H, W)`` and the number of classes, so one name works on MNIST (1x28x28)
and on CIFAR (3x32x32). The registered name is the function's name, so ``grep`` finds it.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    MODELS[builder.__name__] = builder
    return builder


def build_model(name: str, image_shape: tuple[int, int, int], n_classes: int) -> nn.Module:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    return MODELS[name](image_shape, n_classes)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def is_convolutional(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


# --- multilayer perceptrons (Hinton et al. 2015, §3) ------------------------------------------------------------

def _mlp(image_shape, n_classes: int, hidden: tuple[int, ...], input_dropout: float, dropout: float) -> nn.Module:
    layers: list[nn.Module] = [nn.Flatten(), nn.Dropout(input_dropout)]
    width = image_shape[0] * image_shape[1] * image_shape[2]
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
        width = size
    layers.append(nn.Linear(width, n_classes))
    return nn.Sequential(*layers)


@register_model
def mlp_2x1200_dropout(image_shape, n_classes):
    """Hinton et al.'s MNIST teacher: two hidden layers of 1200 ReLUs, dropout 0.2 on the input, 0.5 on hidden."""
    return _mlp(image_shape, n_classes, (1200, 1200), input_dropout=0.2, dropout=0.5)


@register_model
def mlp_2x800(image_shape, n_classes):
    """Hinton et al.'s MNIST student: two hidden layers of 800 ReLUs, no regularisation."""
    return _mlp(image_shape, n_classes, (800, 800), input_dropout=0.0, dropout=0.0)


@register_model
def mlp_2x100(image_shape, n_classes):
    """The noisy-teachers chapter's shallow student: two hidden layers of 100 ReLUs (3 weight layers, ~90K params)."""
    return _mlp(image_shape, n_classes, (100, 100), input_dropout=0.0, dropout=0.0)


@register_model
def mlp_2x100_drop20(image_shape, n_classes):
    """``mlp_2x100`` with dropout 0.2 after each hidden layer: the dropout control of Sau & Balasubramanian."""
    return _mlp(image_shape, n_classes, (100, 100), input_dropout=0.0, dropout=0.2)


@register_model
def mlp_2x100_drop50(image_shape, n_classes):
    """``mlp_2x100`` with dropout 0.5 after each hidden layer."""
    return _mlp(image_shape, n_classes, (100, 100), input_dropout=0.0, dropout=0.5)


# --- small convolutional nets -----------------------------------------------------------------------------------

@register_model
def lenet5(image_shape, n_classes):
    """LeNet-5 as in DAFL/RDSKD: conv6-5x5, pool, conv16-5x5, pool, conv120-5x5, fc84, ReLU (~62K params)."""
    channels, height, _ = image_shape
    pad = 2 if height == 28 else 0  # 28x28 inputs are padded to LeNet's 32x32
    return nn.Sequential(
        nn.Conv2d(channels, 6, 5, padding=pad), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 120, 5), nn.ReLU(), nn.Flatten(),
        nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, n_classes))


@register_model
def lenet5_half(image_shape, n_classes):
    """DAFL's and RDSKD's MNIST student, LeNet-5 at half width: conv3-5x5, pool, conv8-5x5, pool, conv60-5x5, fc42."""
    channels, height, _ = image_shape
    pad = 2 if height == 28 else 0
    return nn.Sequential(
        nn.Conv2d(channels, 3, 5, padding=pad), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(3, 8, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 60, 5), nn.ReLU(), nn.Flatten(),
        nn.Linear(60, 42), nn.ReLU(), nn.Linear(42, n_classes))


@register_model
def small_cnn(image_shape, n_classes):
    """The book's small student: two 3x3 conv layers (16, 32 channels) with pooling, then one linear layer."""
    channels, height, width = image_shape
    return nn.Sequential(
        nn.Conv2d(channels, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * (height // 4) * (width // 4), n_classes))


# --- CIFAR-style ResNets (He et al. 2016, §4.2) -----------------------------------------------------------------

class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:  # projection shortcut (option B) where shapes change
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class CifarResNet(nn.Module):
    """Three stages of ``blocks_per_stage`` basic blocks at widths 16, 32, 64 (depth = 6n + 2)."""

    def __init__(self, image_shape, n_classes: int, blocks_per_stage: int, widths=(16, 32, 64)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(image_shape[0], widths[0], 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU())
        stages, in_channels = [], widths[0]
        for index, width in enumerate(widths):
            blocks = []
            for block in range(blocks_per_stage):
                stride = 2 if index > 0 and block == 0 else 1
                blocks.append(BasicBlock(in_channels, width, stride))
                in_channels = width
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_channels, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))


@register_model
def resnet20(image_shape, n_classes):
    """ResNet-20 for CIFAR (0.27M parameters)."""
    return CifarResNet(image_shape, n_classes, blocks_per_stage=3)


@register_model
def resnet8(image_shape, n_classes):
    """ResNet-8: one block per stage, a cheap ResNet for tests and small students."""
    return CifarResNet(image_shape, n_classes, blocks_per_stage=1)


# --- Wide ResNets (Zagoruyko & Komodakis 2016) and Rocket Launching's light/booster pairs (Zhou et al. 2018) -----

class PreActBlock(nn.Module):
    """A Wide-ResNet block: BN-ReLU-conv3×3-BN-ReLU-conv3×3 plus a shortcut (1×1 conv where the shape changes).

    ``norms`` swaps in other BatchNorm layers: a Rocket light net runs the booster's convolutions with its own
    normalisation, because its features (and so their statistics) differ from the booster's.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.shortcut = (nn.Conv2d(in_channels, out_channels, 1, stride, bias=False)
                         if stride != 1 or in_channels != out_channels else None)

    def forward(self, x: torch.Tensor, norms: tuple[nn.Module, nn.Module] | None = None) -> torch.Tensor:
        bn1, bn2 = norms or (self.bn1, self.bn2)
        out = torch.relu(bn1(x))
        shortcut = x if self.shortcut is None else self.shortcut(out)
        out = self.conv2(torch.relu(bn2(self.conv1(out))))
        return out + shortcut


def _group(in_channels: int, width: int, blocks: int, stride: int) -> nn.ModuleList:
    return nn.ModuleList(PreActBlock(in_channels if i == 0 else width, width, stride if i == 0 else 1)
                         for i in range(blocks))


class WideResNet(nn.Module):
    """WRN-d-k: a 3×3 stem, three groups of (d − 4)/6 blocks at widths 16k, 32k, 64k (strides 1, 2, 2), then
    BN-ReLU, global average pooling and a linear classifier."""

    def __init__(self, image_shape, n_classes: int, depth: int, width: int):
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"a Wide ResNet's depth must be 6n + 4, got {depth}")
        blocks = (depth - 4) // 6
        widths = (16 * width, 32 * width, 64 * width)
        self.conv0 = nn.Conv2d(image_shape[0], 16, 3, 1, 1, bias=False)
        self.groups = nn.ModuleList(_group(c_in, c_out, blocks, stride) for c_in, c_out, stride in
                                    zip((16, *widths[:2]), widths, (1, 2, 2)))
        self.bn = nn.BatchNorm2d(widths[-1])
        self.fc = nn.Linear(widths[-1], n_classes)

    def head(self, x: torch.Tensor, bn: nn.Module | None = None, fc: nn.Module | None = None) -> torch.Tensor:
        x = torch.relu((bn or self.bn)(x))
        return (fc or self.fc)(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv0(x)
        for group in self.groups:
            for block in group:
                x = block(x)
        return self.head(x)


SHARING = ("interval", "bottom", "none")


class RocketNet(nn.Module):
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
            self.light_groups = nn.ModuleList([_group(16 * width, widths[0], light_blocks, 2),
                                               _group(widths[0], widths[1], light_blocks, 2)])
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


def _wrn(depth: int, width: int):
    def build(image_shape, n_classes):
        return WideResNet(image_shape, n_classes, depth, width)
    build.__doc__ = f"WRN-{depth}-{width} (Zagoruyko & Komodakis 2016)."
    return build


def _rocket(light: int, booster: int, width: int, sharing: str):
    def build(image_shape, n_classes):
        return RocketNet(image_shape, n_classes, light, booster, width, sharing)
    build.__doc__ = f"Rocket pair: light WRN-{light}-{width}, booster WRN-{booster}-{width}, {sharing} sharing."
    return build


# The paper's pairs (WRN-16-1/40-1, WRN-16-2/40-2) and the book's CPU-sized pair (WRN-10-1/16-1).
for _light, _booster, _width in ((16, 40, 1), (16, 40, 2), (10, 16, 1)):
    for _depth in (_light, _booster):
        MODELS[f"wrn_{_depth}_{_width}"] = _wrn(_depth, _width)
    for _sharing in SHARING:
        MODELS[f"rocket_{_light}_{_booster}_{_width}_{_sharing}"] = _rocket(_light, _booster, _width, _sharing)


# --- Self-distillation networks (Zhang et al. 2019, "Be Your Own Teacher"; TPAMI 2021) --------------------------

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
    MODELS[_backbone] = _self_distillation(_backbone, "iccv", (4,))
    for _variant in SD_VARIANTS:
        MODELS[f"{_backbone}_sd_{_variant}"] = _self_distillation(_backbone, _variant, (1, 2, 3, 4))
        for _k in (1, 2, 3):
            MODELS[f"{_backbone}_exit{_k}_{_variant}"] = _self_distillation(_backbone, _variant, (_k,))
MODELS["lenet5_half_sd_exits"] = lambda image_shape, n_classes: LeNetWithExits(image_shape, n_classes)
MODELS["lenet5_half_sd_exits"].__doc__ = "LeNet-5-half with an exit after each of its three stages."


# --- a light net and a booster that share nothing, for small networks (the synthesis chapter) ---------------------

class PairNet(nn.Module):
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


@register_model
def rocket_lenet5half_lenet5_none(image_shape, n_classes):
    """Rocket pair without sharing: light LeNet-5-half, booster LeNet-5."""
    return PairNet(lenet5_half(image_shape, n_classes), lenet5(image_shape, n_classes))
