"""``python -m kdlib bench``: how close kdlib's training loop runs to the hardware, measured side by side.

Four measures, each timing kdlib's trainer against a baseline in the same process, alternating, median of repeats;
only training steps are timed (no evaluation):

1. LeNet-5 on MNIST, one epoch: kdlib vs a plain torchvision ``DataLoader`` (ToTensor + Normalize, batch 128).
2. The same kdlib epoch vs the model's own forward + backward + step on ready-made, normalised batches: kdlib's
   overhead over no data handling at all.
3. A KD student (small CNN, Fashion-MNIST) learning from cached ResNet-20 logits vs the same student alone.
4. ResNet-20 on Fashion-MNIST with the book's augmentation (4-pixel shifts and flips), kdlib vs a ``DataLoader``
   with RandomCrop + RandomHorizontalFlip + ToTensor + Normalize; on ``resnet_images`` images to bound the time.

Also: ``inference_cost`` (parameters, weights on disk, forward latency) for the chapters' cost tables.
"""

from __future__ import annotations

import io
import json
import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch.utils.data import DataLoader, Subset

from kdlib import data
from kdlib.models import build_model, count_parameters
from kdlib.paths import data_dir, results_dir
from kdlib.runs import write_json_atomic
from kdlib.spec import RunSpec
from kdlib.optim import build_optimizer
from kdlib.train import predict_logits, train


@dataclass(frozen=True)
class Measure:
    name: str
    kdlib_label: str
    baseline_label: str
    goal: str  # "ratio >= x": baseline / kdlib must reach x; "ratio <= x": kdlib / baseline must stay under x
    kdlib_s: float
    baseline_s: float

    @property
    def ratio(self) -> float:
        faster = self.goal.startswith(">=")
        return self.baseline_s / self.kdlib_s if faster else self.kdlib_s / self.baseline_s

    @property
    def met(self) -> bool:
        target = float(self.goal.split()[-1].rstrip("x×"))
        return self.ratio >= target if self.goal.startswith(">=") else self.ratio <= target


def _kdlib_epoch(spec: RunSpec, dataset: data.Dataset, teacher_logits: torch.Tensor | None = None) -> float:
    return train(spec, dataset, teacher_logits=teacher_logits, progress="off").history[0]["train_time_s"]


def _plain_epoch(spec: RunSpec, dataset: data.Dataset, batches) -> float:
    """Seconds for the textbook loop over ``batches`` (forward, CE, backward, step), the model built as kdlib does."""
    torch.manual_seed(spec.seed)
    model = build_model(spec.model, tuple(dataset.train_images.shape[1:]), dataset.n_classes)
    optimizer = build_optimizer(spec, model)
    model.train()
    started = time.perf_counter()
    for images, labels in batches:
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started


def _dataloader_epoch(spec: RunSpec, dataset: data.Dataset, transforms: list) -> float:
    """The usual PyTorch pipeline: a torchvision dataset decoding PIL images, transforms per image, a DataLoader."""
    folder = {"mnist": torchvision.datasets.MNIST, "fashion_mnist": torchvision.datasets.FashionMNIST}[spec.dataset]
    transform = torchvision.transforms.Compose([*transforms, torchvision.transforms.ToTensor(),
                                                torchvision.transforms.Normalize(dataset.mean, dataset.std)])
    full = folder(str(data_dir()), train=True, transform=transform, download=False)
    train_idx, _ = data.split_indices(len(full), spec.val_size, spec.subset)
    loader = DataLoader(Subset(full, train_idx.tolist()), batch_size=spec.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(spec.seed))
    return _plain_epoch(spec, dataset, loader)


def _ready_batches_epoch(spec: RunSpec, dataset: data.Dataset) -> float:
    """Forward, backward and step on batches that are already normalised floats: no data handling at all."""
    train_idx, _ = data.split_indices(len(dataset.train_images), spec.val_size, spec.subset)
    images = data.normalise(dataset.train_images[train_idx], dataset.mean, dataset.std)
    labels = dataset.train_labels[train_idx]
    return _plain_epoch(spec, dataset, [(images[i:i + spec.batch_size], labels[i:i + spec.batch_size])
                                        for i in range(0, len(images), spec.batch_size)])


def _median_pair(repeats: int, first, second) -> tuple[float, float]:
    """Alternate the two sides so that a slow spell of the machine hits both alike."""
    times = [(first(), second()) for _ in range(repeats)]
    return statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)


def run_benchmark(repeats: int = 3, resnet_images: int = 10_000, subset: int | None = None) -> dict:
    """Every measure, with the machine and versions it ran on; ``repeats`` pairs each, medians reported.

    ``subset`` limits every measure to that many training images (a quick check that the benchmark runs; its
    timings are too short to mean much)."""
    for name in ("mnist", "fashion_mnist"):
        data.fetch(name)
    mnist, fashion = data.load("mnist"), data.load("fashion_mnist")
    measures = []

    lenet = RunSpec("mnist", "lenet5", epochs=1, lr=0.05, subset=subset)
    kdlib_s, loader_s = _median_pair(repeats, lambda: _kdlib_epoch(lenet, mnist),
                                     lambda: _dataloader_epoch(lenet, mnist, []))
    measures.append(Measure("LeNet-5 / MNIST epoch: kdlib vs DataLoader", "kdlib", "DataLoader (ToTensor, Normalize)",
                            ">= 3x", kdlib_s, loader_s))
    kdlib_s, ready_s = _median_pair(repeats, lambda: _kdlib_epoch(lenet, mnist),
                                    lambda: _ready_batches_epoch(lenet, mnist))
    measures.append(Measure("LeNet-5 / MNIST epoch: kdlib vs ready-made batches", "kdlib",
                            "forward + backward + step only", "<= 1.10x", kdlib_s, ready_s))

    student = RunSpec("fashion_mnist", "small_cnn", epochs=1, schedule="warmup_cosine", subset=subset)
    teacher = RunSpec("fashion_mnist", "resnet20", epochs=1, subset=subset)
    started = time.perf_counter()  # the one-off cost of caching the teacher's logits, reported beside the ratio
    torch.manual_seed(0)
    train_idx, _ = data.split_indices(len(fashion.train_images), student.val_size, subset)
    logits = torch.full((len(fashion.train_images), fashion.n_classes), float("nan"))
    logits[train_idx] = predict_logits(build_model("resnet20", (1, 28, 28), 10), fashion.train_images[train_idx],
                                       fashion, torch.device("cpu"))
    caching_s = time.perf_counter() - started
    distilled = student.replace(method="kd", teacher=teacher)
    kd_s, ce_s = _median_pair(repeats, lambda: _kdlib_epoch(distilled, fashion, logits),
                              lambda: _kdlib_epoch(student, fashion))
    measures.append(Measure("KD student epoch (cached ResNet-20 logits) vs the student alone", "KD student",
                            "student alone (CE)", "<= 1.2x", kd_s, ce_s))

    resnet_images = min(resnet_images, subset or resnet_images)
    resnet = RunSpec("fashion_mnist", "resnet20", epochs=1, augment="crop_flip", subset=resnet_images)
    crop_flip = [torchvision.transforms.RandomCrop(28, padding=4), torchvision.transforms.RandomHorizontalFlip()]
    kdlib_s, loader_s = _median_pair(repeats, lambda: _kdlib_epoch(resnet, fashion),
                                     lambda: _dataloader_epoch(resnet, fashion, crop_flip))
    measures.append(Measure(f"ResNet-20 / Fashion-MNIST epoch ({resnet_images:,} images, shifts + flips): kdlib "
                            f"vs DataLoader", "kdlib", "DataLoader (RandomCrop, Flip, ToTensor, Normalize)",
                            ">= 1.3x", kdlib_s, loader_s))
    return {"machine": machine(), "repeats": repeats, "teacher_logit_cache_s": caching_s,
            "measures": [{"name": m.name, "kdlib": m.kdlib_label, "baseline": m.baseline_label,
                          "kdlib_s": m.kdlib_s, "baseline_s": m.baseline_s, "ratio": m.ratio, "goal": m.goal,
                          "met": m.met} for m in measures]}


def profile_lenet_epoch(rows: int = 12) -> str:
    """torch.profiler's table of one kdlib LeNet-5 epoch on MNIST, ops by self CPU time: where the time goes."""
    from torch.profiler import ProfilerActivity, profile

    data.fetch("mnist")
    mnist = data.load("mnist")
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        _kdlib_epoch(RunSpec("mnist", "lenet5", epochs=1, lr=0.05), mnist)
    return profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def machine() -> dict:
    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as handle:
            model = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": model, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
            "python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__,
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def print_report(result: dict) -> None:
    m = result["machine"]
    print(f"{m['cpu']}, {m['cores']} cores, {m['torch_threads']} torch threads, device {m['device']}, "
          f"torch {m['torch']}; median of {result['repeats']} repeats")
    for row in result["measures"]:
        print(f"- {row['name']}\n    {row['kdlib']}: {row['kdlib_s']:.2f} s   {row['baseline']}: "
              f"{row['baseline_s']:.2f} s   ratio {row['ratio']:.2f} (goal {row['goal']}: "
              f"{'met' if row['met'] else 'NOT met'})")


def write_json(result: dict, path) -> None:
    write_json_atomic(Path(path), result)


def multiply_accumulates(model: torch.nn.Module, image_shape: tuple[int, ...]) -> int:
    """Multiply-accumulate operations of one forward pass on one image, counted in its convolutions and linear layers
    (the usual "FLOPs" of papers; BatchNorm, activations, pooling and the attention's upsampling are left out)."""
    total = 0

    def count(module, inputs, output):
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            per_output = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            total += output.numel() * per_output
        elif isinstance(module, torch.nn.Linear):
            total += output.numel() * module.in_features

    hooks = [m.register_forward_hook(count) for m in model.modules()
             if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    try:
        with torch.inference_mode():
            model.eval()(torch.zeros(1, *image_shape))
    finally:
        for hook in hooks:
            hook.remove()
    return total


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


BENCH_SETTINGS = {"smoke": dict(repeats=1, resnet_images=256, subset=256),
                  "cpu": dict(repeats=3, resnet_images=10_000, subset=None),
                  "paper": dict(repeats=3, resnet_images=10_000, subset=None)}


def bench_path(profile: str) -> Path:
    return results_dir() / "bench" / f"{profile}.json"


def stored_or_run(profile: str, run_missing: bool = True) -> dict:
    """The stored benchmark of a profile (``results/bench/<profile>.json``), measured first when missing."""
    if profile not in BENCH_SETTINGS:
        raise ValueError(f"unknown profile {profile!r}; choose one of: {', '.join(BENCH_SETTINGS)}")
    path = bench_path(profile)
    if path.exists():
        return json.loads(path.read_text())
    if not run_missing:
        raise FileNotFoundError(f"no stored benchmark {path}; run `python -m kdlib bench --json {path}`")
    result = run_benchmark(**BENCH_SETTINGS[profile])
    write_json(result, path)
    return result


def executor_benchmark(n_runs: int = 8, epochs: int = 2, executors: tuple[str, ...] = ("local", "ray"),
                       workers: int = 2) -> dict:
    """One stage of ``n_runs`` independent single-thread LeNet-5 runs on MNIST (seeds 0..n-1), each trained
    from scratch into its own temporary store: ``workers=1`` (in this process), then ``workers`` processes through
    each executor. Wall times of the whole stage; the speed-up and, for every executor beyond local, its overhead
    per run against local at the same worker count."""
    import tempfile

    from kdlib.executors import run_stages, set_environment
    specs = [RunSpec("mnist", "lenet5", epochs=epochs, seed=seed, lr=0.05) for seed in range(n_runs)]
    data.fetch("mnist")

    def timed(executor: str, n_workers: int) -> float:
        with tempfile.TemporaryDirectory() as store, \
                set_environment({"KDLIB_RESULTS": f"{store}/results", "KDLIB_CACHE": f"{store}/cache"}):
            started = time.perf_counter()
            failures = run_stages([lambda: specs], executor, n_workers, 1, "cpu", report=lambda line: None)
            seconds = time.perf_counter() - started
        if failures:
            raise RuntimeError(f"the {executor} benchmark had failures: {failures}")
        return seconds

    torch.set_num_threads(1)
    one = timed("local", 1)
    result = {"machine": machine(), "runs": n_runs, "epochs": epochs, "threads_per_run": 1, "workers": workers,
              "seconds": {"local, 1 worker": one}}
    for executor in executors:
        result["seconds"][f"{executor}, {workers} workers"] = timed(executor, workers)
    local = result["seconds"][f"local, {workers} workers"]
    result["speedup"] = one / local
    result["overhead_per_run_s"] = {executor: (result["seconds"][f"{executor}, {workers} workers"] - local) / n_runs
                                    for executor in executors if executor != "local"}
    return result
