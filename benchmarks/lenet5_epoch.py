"""One LeNet-5 epoch on MNIST through kdlib's trainer vs the same model fed by a plain torchvision DataLoader.

Both sides train on the same 55,000 images with the same optimiser and batch size; only the input pipeline differs
(kdlib: uint8 tensors in memory, batched and normalised on the device; baseline: torchvision.datasets.MNIST with
ToTensor/Normalize through a DataLoader). Evaluation is excluded from both timings.

    python benchmarks/lenet5_epoch.py --threads 2 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torchvision
from torch.utils.data import DataLoader, Subset

from kdlib import data
from kdlib.models import build_model
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes for the baseline")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spec = RunSpec("mnist", "lenet5", epochs=1, lr=0.05)
    data.fetch("mnist")
    times = {"kdlib (tensors in memory)": [kdlib_epoch(spec) for _ in range(args.repeats)],
             f"torchvision DataLoader ({args.workers} workers)": [dataloader_epoch(spec, args.workers)
                                                                  for _ in range(args.repeats)]}
    print(f"LeNet-5, MNIST, one epoch of 55,000 images, batch {spec.batch_size}, {args.threads} threads, "
          f"median of {args.repeats}:")
    for name, values in times.items():
        print(f"  {name:<36} {statistics.median(values):6.2f} s   (all: {', '.join(f'{v:.2f}' for v in values)})")


if __name__ == "__main__":
    main()
