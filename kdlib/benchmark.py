"""One LeNet-5 epoch on MNIST through kdlib's trainer vs the same model fed by a plain torchvision DataLoader.

Both sides train on the same 55,000 images with the same optimiser and batch size; only the input pipeline differs
(kdlib: uint8 tensors in memory, batched and normalised on the device; baseline: torchvision.datasets.MNIST with
ToTensor/Normalize through a DataLoader). Evaluation is excluded from both timings.

    python -m kdlib benchmark --repeats 3
"""

from __future__ import annotations

import io
import statistics
import time

import torch
import torchvision
from torch.utils.data import DataLoader, Subset

from kdlib import data
from kdlib.models import build_model, count_parameters
from kdlib.paths import data_dir
from kdlib.runs import RunSpec
from kdlib.train import train


def kdlib_epoch(spec: RunSpec) -> float:
    dataset = data.load("mnist")
    result = train(spec, dataset, progress="off")
    return result.history[0]["train_time_s"]


def dataloader_epoch(spec: RunSpec, workers: int) -> float:
    transform = torchvision.transforms.Compose([torchvision.transforms.ToTensor(),
                                                torchvision.transforms.Normalize((0.1307,), (0.3081,))])
    full = torchvision.datasets.MNIST(str(data_dir()), train=True, transform=transform, download=False)
    train_idx, _ = data.split_indices(len(full), spec.val_size, None)
    loader = DataLoader(Subset(full, train_idx.tolist()), batch_size=spec.batch_size, shuffle=True,
                        num_workers=workers, generator=torch.Generator().manual_seed(spec.seed))
    torch.manual_seed(spec.seed)
    model = build_model("lenet5", (1, 28, 28), 10)
    optimizer = torch.optim.SGD(model.parameters(), lr=spec.lr, momentum=spec.momentum, nesterov=True,
                                weight_decay=spec.weight_decay)
    model.train()
    started = time.perf_counter()
    for images, labels in loader:
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started


def lenet5_epoch(repeats: int = 3, workers: int = 0) -> dict[str, list[float]]:
    """Seconds per training epoch for each input pipeline, ``repeats`` times each (threads as torch has them)."""
    spec = RunSpec("mnist", "lenet5", epochs=1, lr=0.05)
    data.fetch("mnist")
    return {"kdlib (uint8 tensors in memory)": [kdlib_epoch(spec) for _ in range(repeats)],
            f"torchvision DataLoader ({workers} workers)": [dataloader_epoch(spec, workers) for _ in range(repeats)]}


def print_report(times: dict[str, list[float]]) -> None:
    print(f"LeNet-5, MNIST, one epoch of 55,000 images, batch 128, {torch.get_num_threads()} threads:")
    for name, values in times.items():
        print(f"  {name:<40} median {statistics.median(values):6.2f} s  (all: {', '.join(f'{v:.2f}' for v in values)})")


def inference_cost(model: torch.nn.Module, image_shape: tuple[int, ...], batch_sizes=(1, 256),
                   repeats: int = 30) -> dict[str, float]:
    """Parameters, size of the saved weights and median CPU latency per batch: what a deployed model costs."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    cost = {"parameters": count_parameters(model), "weights on disk (KiB)": len(buffer.getvalue()) / 1024}
    model = model.cpu().eval()
    with torch.inference_mode():
        for batch_size in batch_sizes:
            images = torch.randn(batch_size, *image_shape)
            model(images)  # warm-up: the first call allocates
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                model(images)
                times.append(time.perf_counter() - started)
            cost[f"latency, batch {batch_size} (ms)"] = 1000 * statistics.median(times)
    return cost
