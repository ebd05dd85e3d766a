"""The generic teachers and students of the book, looked up by name, and the contract every model keeps with the
trainer.

Every builder takes the image shape ``(C, H, W)`` and the number of classes, so one name works on MNIST (1x28x28)
and on CIFAR (3x32x32). A paper's own networks (Rocket Launching's pairs, the self-distillation networks, the
data-free generator) live with that paper's method in ``kdlib.methods``, and register themselves here.

The contract (``training_outputs``, ``evaluation_heads``): a model's training step returns named tensors, the
network's own logits under ``"logits"`` and anything else a loss reads under its name (a Rocket pair adds
``booster_logits``; a network with exits adds ``exit_logits`` and ``exit_features``). For evaluation a model names
its heads: ``""`` is the network itself, reported as ``val_acc``/``test_acc``; another head ``h`` is reported as
``h_val_acc``/``h_test_acc``. A model with neither method is a plain classifier; a generator names no heads. Each
registry entry has a ``kind`` (classifier, pair, exits, generator) that a method's declared kind must match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

KINDS = ("classifier", "pair", "exits", "generator")


@dataclass(frozen=True)
class ModelEntry:
    build: Callable[..., nn.Module]
    kind: str


MODELS: dict[str, ModelEntry] = {}


def register_model(builder: Callable[..., nn.Module] | None = None, *, name: str | None = None,
                   kind: str = "classifier"):
    """Register ``builder`` under ``name`` (default: the function's name, so ``grep`` finds it); usable as a bare
    decorator, or called with ``kind=`` for the networks that are not plain classifiers."""
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; choose one of: {', '.join(KINDS)}")

    def register(build):
        MODELS[name or build.__name__] = ModelEntry(build, kind)
        return build
    return register(builder) if builder is not None else register


def build_model(name: str, image_shape: tuple[int, int, int], n_classes: int) -> nn.Module:
    return MODELS[_known(name)].build(image_shape, n_classes)


def model_kind(name: str) -> str:
    return MODELS[_known(name)].kind


def _known(name: str) -> str:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    return name


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def is_convolutional(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def training_outputs(model: nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """What one training forward pass of ``model`` gives its loss (see the module's docstring)."""
    if hasattr(model, "training_outputs"):
        return model.training_outputs(images)
    return {"logits": model(images)}


def evaluation_heads(model: nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """The logits of every head ``model`` is evaluated on, by name (``""``: the network itself)."""
    if hasattr(model, "evaluation_heads"):
        return model.evaluation_heads(images)
    return {"": model(images)}


def head_names(model: nn.Module) -> tuple[str, ...]:
    """The heads ``evaluation_heads`` returns, without running the model; empty for a generator."""
    return tuple(getattr(model, "heads", ("",)))


def size_metrics(model: nn.Module) -> dict[str, int]:
    """What a model reports about its size besides its parameter count (a Rocket pair: its light net's)."""
    return model.size_metrics() if hasattr(model, "size_metrics") else {}


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


# --- Wide ResNets (Zagoruyko & Komodakis 2016) ------------------------------------------------------------

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


def wide_group(in_channels: int, width: int, blocks: int, stride: int) -> nn.ModuleList:
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
        self.groups = nn.ModuleList(wide_group(c_in, c_out, blocks, stride) for c_in, c_out, stride in
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


def _wrn(depth: int, width: int):
    def build(image_shape, n_classes):
        return WideResNet(image_shape, n_classes, depth, width)
    build.__doc__ = f"WRN-{depth}-{width} (Zagoruyko & Komodakis 2016)."
    return build


# Rocket Launching's light nets and boosters (WRN-16-1/40-1, WRN-16-2/40-2) and the book's CPU-sized pair (10-1/16-1)
for _depth, _width in ((16, 1), (40, 1), (16, 2), (40, 2), (10, 1)):
    register_model(_wrn(_depth, _width), name=f"wrn_{_depth}_{_width}")
