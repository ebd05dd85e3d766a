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
