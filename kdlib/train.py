"""The one training loop every method in the book goes through.

A run trains one or more phases (``kdlib.methods.Phase``): the run's model on its method's loss, and whatever else
the method declares (DAFL's generator, updated before its student at every step; RDSKD's generator run, whose only
phase is the generator). At every step the loop takes a batch from the feed (the training set, or for data-free KD
the method's noise or latents), runs each phase's step on it and updates that phase's module; after every epoch it
evaluates the model's heads (``kdlib.models.evaluation_heads``) on the validation and test splits. It knows no
paper: the models say what they output, the methods what they train.

Data stay on the device as uint8 tensors; each step slices a batch, augments and normalises it there, so there is
no DataLoader and no worker process.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from kdlib import optim
from kdlib.data import Dataset, augment, normalise, split_indices
from kdlib.methods import Context, Phase, get_method, parse_params
from kdlib.models import (build_model, count_parameters, evaluation_heads, head_names, is_convolutional,
                          size_metrics, training_outputs)


def pick_device(requested: str | torch.device | None = None) -> torch.device:
    """CUDA when there is one, else the CPU; ``requested`` ("cpu", "cuda" or a device) overrides."""
    if isinstance(requested, torch.device):
        return requested
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class TrainResult:
    model: nn.Module
    metrics: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    extras: dict[str, nn.Module] = field(default_factory=dict)  # modules trained besides the model (DAFL's generator)


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, data: Dataset, device: torch.device,
                   batch_size: int = 1000, forward: Callable | None = None) -> torch.Tensor:
    """Logits (float32, on the CPU) for uint8 images, in evaluation mode, in the given order; ``forward`` (default:
    the model itself) maps a normalised batch to its outputs."""
    return _predict(model, images, data, device, batch_size, forward or model)


@torch.no_grad()
def predict_heads(model: nn.Module, images: torch.Tensor, data: Dataset, device: torch.device,
                  batch_size: int = 1000) -> dict[str, torch.Tensor]:
    """``predict_logits`` for every head of ``model`` (``kdlib.models.evaluation_heads``), by name."""
    return _predict(model, images, data, device, batch_size, lambda batch: evaluation_heads(model, batch))


def _predict(model, images, data, device, batch_size, forward):
    model.eval()
    channels_last = device.type == "cuda" and is_convolutional(model)
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = normalise(images[start:start + batch_size].to(device), data.mean, data.std)
        if channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            out = forward(batch)
        outputs.append({name: value.float().cpu() for name, value in out.items()} if isinstance(out, dict)
                       else out.float().cpu())
    if not outputs:
        return torch.empty(0, data.n_classes)
    if isinstance(outputs[0], dict):
        return {name: torch.cat([out[name] for out in outputs]) for name in outputs[0]}
    return torch.cat(outputs)


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, data: Dataset,
             device: torch.device) -> float:
    if len(images) == 0:
        return float("nan")
    return (predict_logits(model, images, data, device).argmax(1) == labels).float().mean().item()


def head_accuracies(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, data: Dataset,
                    device: torch.device, split: str) -> dict[str, float]:
    """The accuracy of every head on one split, from one pass: ``<split>_acc`` for the network itself, and
    ``<head>_<split>_acc`` for each other head (a Rocket pair's booster, every exit and the exits' ensemble)."""
    names = {head: f"{head}_{split}_acc" if head else f"{split}_acc" for head in head_names(model)}
    if len(images) == 0:
        return dict.fromkeys(names.values(), float("nan"))
    logits = predict_heads(model, images, data, device)
    return {names[head]: (value.argmax(1) == labels).float().mean().item() for head, value in logits.items()}


BIAS_SHIFTS = tuple(round(0.25 * k, 2) for k in range(41))  # 0 to 10 logits, the paper's 3.5 among them


def bias_sweep(splits: dict[str, tuple[torch.Tensor, torch.Tensor]], target: int, shifts=BIAS_SHIFTS) -> dict:
    """Errors when the logit of class ``target`` is raised by each shift, from each split's (logits, labels): the
    evaluation of a run whose transfer set left ``target`` out (``RunSpec.omit_classes``; Hinton et al. 2015 §3: a
    student that never saw a class learns too low a bias for it). Per split, the errors
    overall and on the images of ``target``, one entry per shift; choosing a shift is left to the reader of the
    record, which must do it on validation."""
    out = {"class": target, "shifts": list(shifts)}
    for split, (logits, labels) in splits.items():
        mine = labels == target
        out[f"n_{split}_class"] = int(mine.sum())
        errors, on_class = [], []
        for shift in shifts:
            shifted = logits.clone()
            shifted[:, target] += shift
            wrong = shifted.argmax(1) != labels
            errors.append(int(wrong.sum()))
            on_class.append(int((wrong & mine).sum()))
        out[f"{split}_errors"], out[f"{split}_errors_on_class"] = errors, on_class
    return out


class _Progress:
    """A tqdm bar in a terminal; one short line per epoch on stderr elsewhere (papermill, CI, nohup)."""

    def __init__(self, label: str, epochs: int, mode: str):
        self.label, self.epochs = label, epochs
        self.bar = None
        if mode == "bar" or (mode == "auto" and sys.stderr.isatty()):
            from tqdm.auto import tqdm
            self.bar = tqdm(total=epochs, desc=label, unit="epoch", leave=False)
        self.quiet = mode == "off"

    def epoch(self, row: dict[str, float]) -> None:
        shown = {"loss": "train_loss", "val": "val_acc", "test": "test_acc"}
        values = {short: row[key] for short, key in shown.items() if key in row}
        if self.bar is not None:
            self.bar.set_postfix({short: f"{value:.4f}" for short, value in values.items()})
            self.bar.update(1)
        elif not self.quiet:
            print(f"[{self.label}] epoch {row['epoch']}/{self.epochs} "
                  + " ".join(f"{short} {value:.4f}" for short, value in values.items())
                  + f" ({row['train_time_s']:.1f}s)", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _rng_state(generator: torch.Generator, device: torch.device) -> dict:
    state = {"generator": generator.get_state(), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, generator: torch.Generator, device: torch.device) -> None:
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def inherit_weights(model: nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """Copy every tensor of ``state`` whose name and shape ``model`` also has; returns the names copied."""
    own = model.state_dict()
    copied = [name for name, value in state.items() if name in own and own[name].shape == value.shape]
    model.load_state_dict({**own, **{name: state[name] for name in copied}})
    return copied


class _TrainingSet:
    """The feed of a run on real data: the training split on the device, shuffled every epoch by the loop's stream
    (``rng``), each batch augmented and normalised there; ``{"images", "labels", "index"}`` (rows of the split)."""

    def __init__(self, spec, data: Dataset, device: torch.device, rng: torch.Generator):
        train_idx, self.val_idx = split_indices(len(data.train_images), spec.val_size, spec.subset,
                                                spec.train_size)
        omitted = getattr(spec, "omit_classes", ())
        if omitted:  # a transfer set without these classes; validation keeps them
            train_idx = train_idx[~torch.isin(data.train_labels[train_idx], torch.tensor(omitted))]
        self.train_idx = train_idx
        self.images, self.labels = data.train_images[train_idx].to(device), data.train_labels[train_idx].to(device)
        self.spec, self.data, self.device, self.rng = spec, data, device, rng
        self.steps_per_epoch = math.ceil(len(self.images) / spec.batch_size)

    def start_epoch(self) -> None:
        self.order, self.cursor = torch.randperm(len(self.images), generator=self.rng).to(self.device), 0

    def next_batch(self) -> dict[str, torch.Tensor]:
        index = self.order[self.cursor:self.cursor + self.spec.batch_size]
        self.cursor += self.spec.batch_size
        images = normalise(augment(self.images[index], self.spec.augment, self.rng), self.data.mean, self.data.std)
        return {"images": images, "labels": self.labels[index], "index": index}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        return None


def _model_phase(ctx: Context, method, teacher_logits: torch.Tensor | None, rng: torch.Generator) -> Phase:
    """The run's model on its method's loss. The loss gets the model's training outputs by name (``logits`` as
    ``student_logits``), the labels (on generated images, the teacher's top class: the only label there is), the
    teacher's logits when the method has a teacher (from the teacher model on the same batch, or from cached logits
    of un-augmented images; with several teachers, one drawn per row) and the method's parameters."""
    model, teacher, device = ctx.model, ctx.teacher, ctx.device
    channels_last = device.type == "cuda" and is_convolutional(model)
    params = ctx.params.as_dict()

    def step(batch):
        images = batch["images"]
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            outputs = training_outputs(model, images)
            if teacher is not None:
                with torch.no_grad():
                    targets = teacher(images)
            else:
                targets = teacher_logits[batch["index"]] if teacher_logits is not None else None
        if targets is not None and targets.dim() == 3:  # several teachers: one per row
            pick = torch.randint(targets.shape[1], (len(images),), generator=rng)
            targets = targets[torch.arange(len(images), device=device), pick.to(device)]
        labels = batch["labels"] if "labels" in batch else targets.argmax(1)
        batch["logits"], batch["labels"] = outputs["logits"], labels  # for the training accuracy
        extra = {"teacher_logits": targets.float()} if method.needs_teacher else {}
        floats = {name: [v.float() for v in value] if isinstance(value, list) else value.float()
                  for name, value in outputs.items()}
        return method.loss(floats.pop("logits"), labels, **extra, **floats, **params)
    return Phase("model", model, None, step)


@torch.enable_grad()  # a caller inside torch.no_grad() (a notebook loading a teacher) must still train
def train(spec, data: Dataset, teacher: nn.Module | None = None, teacher_logits: torch.Tensor | None = None,
          generator: nn.Module | None = None, device: torch.device | None = None, progress: str = "auto",
          label: str = "run", checkpoint: Callable[[dict], None] | None = None, resume: dict | None = None,
          init_state: dict[str, torch.Tensor] | None = None) -> TrainResult:
    """Train the model that ``spec`` (a ``kdlib.runs.RunSpec``) describes, with every phase its method declares, and
    evaluate the model's heads after every epoch.

    ``teacher_logits`` (one row per image of the original training set, un-augmented; or rows × teachers × classes
    for several teachers) let a student distil without running its teacher; a student trained with augmentation, or
    on generated images, needs the ``teacher`` model itself, which then sees the same batch. ``generator`` is the
    frozen generator a data-free student learns from (RDSKD). Model selection uses the validation split carved out
    of the training set; the test accuracy of every epoch is recorded but never used to choose anything. A run that
    does not read the training set reads no training image at all, not even to validate.

    ``checkpoint`` is called after every epoch but the last with the complete training state (every phase's
    weights and optimiser, the feed, the random-number generators, the history); passing that state back as
    ``resume`` continues the run where it stopped, and on the CPU ends exactly where an uninterrupted run would.
    """
    device = device or pick_device()
    method = get_method(spec.method)
    params = parse_params(spec.method, dict(spec.method_params), data.n_classes)
    if method.needs_teacher and teacher is None and teacher_logits is None:
        raise ValueError(f"method {spec.method!r} needs a teacher: pass teacher or teacher_logits")
    if teacher_logits is not None and teacher is None and spec.augment != "none":
        raise ValueError(f"cached teacher logits belong to un-augmented images, but this run uses "
                         f"augment={spec.augment!r}; pass the teacher model instead")
    if teacher_logits is not None and not method.reads_training_images:
        raise ValueError(f"method {spec.method!r} is data-free: its teacher labels generated images, so pass the "
                         f"teacher model, not cached logits of training images")

    torch.manual_seed(spec.seed)
    model = build_model(spec.model, data.image_shape, data.n_classes).to(device)
    if init_state is not None:
        inherit_weights(model, init_state)
    if device.type == "cuda" and is_convolutional(model) and head_names(model):  # a generator keeps its layout
        model = model.to(memory_format=torch.channels_last)
    if teacher is not None:
        teacher = teacher.to(device).eval()
    ctx = Context(spec, params, data, device, model, teacher, generator)
    rng = torch.Generator().manual_seed(spec.seed + 1)
    if method.reads_training_images:
        feed = _TrainingSet(spec, data, device, rng)
        val_images, val_labels = data.train_images[feed.val_idx], data.train_labels[feed.val_idx]
    else:  # no validation split either: it would be real training images
        feed = method.feed(ctx)
        val_images, val_labels = data.test_images[:0], data.test_labels[:0]
    test_images, test_labels = test_split(spec, data)
    phases = method.phases(ctx) if method.phases else []
    if method.loss is not None:
        cached = teacher_logits[feed.train_idx].to(device) if teacher_logits is not None and teacher is None else None
        phases.append(_model_phase(ctx, method, cached, rng))
    for phase in phases:
        if phase.optimizer is None:  # the spec's optimiser, learning rate and schedule
            phase.optimizer = optim.build_optimizer(spec, phase.module)
    heads = head_names(model)

    total_steps = spec.epochs * feed.steps_per_epoch
    stop_step = getattr(spec, "stop_step", None) or total_steps
    if stop_step > total_steps:
        raise ValueError(f"stop_step={stop_step} is beyond the run's {total_steps} steps "
                         f"({spec.epochs} epochs of {feed.steps_per_epoch}); lower it or add epochs")
    history: list[dict[str, float]] = []
    step, done, elapsed_before = 0, 0, 0.0
    if resume is not None:
        for phase in phases:
            saved = resume["phases"][phase.name]
            phase.module.load_state_dict(saved["module"])
            phase.optimizer.load_state_dict(saved["optimizer"])
            if phase.state is not None:
                phase.state.load_state_dict(saved["state"])
        feed.load_state_dict(resume["feed"])
        _set_rng_state(resume["rng"], rng, device)
        history, step, done, elapsed_before = resume["history"], resume["step"], resume["epoch"], resume["elapsed"]
    bar = _Progress(label, spec.epochs, progress)
    started = time.perf_counter()
    try:
        for epoch in range(done + 1, spec.epochs + 1):
            epoch_start = time.perf_counter()
            for phase in phases:
                phase.module.train()
            feed.start_epoch()
            sums: dict[str, float] = {}
            correct = seen = 0
            for iteration in range(feed.steps_per_epoch):
                if step >= stop_step:  # a checkpoint of a longer run: stop mid-epoch, evaluate what was trained
                    break
                lr = optim.learning_rate(spec.schedule, spec.lr, step / total_steps, warmup=1.0 / spec.epochs)
                momentum = optim.momentum(spec, step / total_steps)
                batch = {**feed.next_batch(), "iteration": iteration}
                size = len(batch["images"] if "images" in batch else batch["latents"])
                for phase in phases:
                    if phase.scheduled:
                        for group in phase.optimizer.param_groups:
                            group["lr"] = lr
                            if spec.schedule == "hinton2012":
                                group["momentum"] = momentum
                    terms = phase.step(batch)
                    _check_finite(terms, label, phase, epoch, step, lr, params, history)
                    phase.optimizer.zero_grad(set_to_none=True)
                    terms["loss"].backward()
                    phase.optimizer.step()
                    for name, value in terms.items():
                        key = f"{phase.log}_{name}"
                        sums[key] = sums.get(key, 0.0) + value.item() * size
                step += 1
                seen += size
                if "logits" in batch:
                    correct += (batch["logits"].argmax(1) == batch["labels"]).sum().item()
            row = {"epoch": epoch, "step": step, **{key: total / seen for key, total in sums.items()},
                   "train_time_s": time.perf_counter() - epoch_start}
            if heads:  # a classifier: evaluate every head on the splits this epoch's cadence asks for
                row.update(lr=lr, train_acc=correct / seen)
                last = epoch == spec.epochs or step >= stop_step
                for split, split_images, split_labels in (("val", val_images, val_labels),
                                                          ("test", test_images, test_labels)):
                    if _evaluates(spec, split, epoch, last):
                        row.update(head_accuracies(model, split_images, split_labels, data, device, split))
                row["epoch_time_s"] = time.perf_counter() - epoch_start
            history.append(row)
            bar.epoch(row)
            if step >= stop_step:
                break
            if checkpoint is not None and epoch < spec.epochs:
                checkpoint({"epoch": epoch, "step": step, "history": history, "rng": _rng_state(rng, device),
                            "elapsed": elapsed_before + time.perf_counter() - started, "feed": feed.state_dict(),
                            "phases": {phase.name: {"module": phase.module.state_dict(),
                                                    "optimizer": phase.optimizer.state_dict(),
                                                    "state": phase.state.state_dict() if phase.state else None}
                                       for phase in phases}})
    finally:
        bar.close()

    metrics = {"n_params": count_parameters(model), "train_time_s": elapsed_before + time.perf_counter() - started}
    if heads:
        validated = [row for row in history if "val_acc" in row]
        best = max(validated, key=lambda r: (r["val_acc"], r["epoch"])) if spec.val_size else history[-1]
        metrics.update({
            "test_acc": history[-1]["test_acc"],
            "test_errors": round((1.0 - history[-1]["test_acc"]) * len(test_labels)),
            # with a cadence, test is read at the end only: the best-validation epoch has a test number only if last
            "test_acc_at_best_val": best.get("test_acc"),
            "best_val_epoch": best["epoch"],
            "val_acc": history[-1]["val_acc"],
            "test_acc_max_over_epochs": max(r["test_acc"] for r in history if "test_acc" in r),
            "n_test": len(test_labels),
            **{f"{head}_{split}_acc": history[-1][f"{head}_{split}_acc"] for head in heads if head
               for split in ("val", "test")},
            **size_metrics(model)})
    for target in getattr(spec, "omit_classes", ()):
        with torch.no_grad():
            splits = {split: (predict_logits(model, images, data, device), labels)
                      for split, (images, labels) in (("val", (val_images, val_labels)),
                                                      ("test", (test_images, test_labels)))}
        metrics.setdefault("bias_sweep", []).append(bias_sweep(splits, target))
    if method.report is not None:
        metrics.update(method.report(ctx, history))
    return TrainResult(model.to(memory_format=torch.contiguous_format).cpu().eval(), metrics, history,
                       {name: module.cpu() for name, module in ctx.extras.items()})


def test_split(spec, data: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """The test images and labels a run is tested on: all of them, or the first ``subset`` under the first edition's
    protocol (which cut the test set too)."""
    if spec.subset is None:
        return data.test_images, data.test_labels
    return data.test_images[: spec.subset], data.test_labels[: spec.subset]


def _evaluates(spec, split: str, epoch: int, last: bool) -> bool:
    """Whether an epoch evaluates ``split``: every epoch by default (the first edition's protocol); with
    ``spec.eval_every``, validation every that many epochs and at the end, and test once, at the end (the reported
    model is the last epoch's)."""
    every = getattr(spec, "eval_every", None)
    if every is None or last:
        return True
    return split == "val" and epoch % every == 0


def _check_finite(terms: dict[str, torch.Tensor], label: str, phase: Phase, epoch: int, step: int, lr: float,
                  params, history: list[dict]) -> None:
    """A non-finite loss stops the run with what diverged, where, and the epochs completed before it."""
    loss = terms["loss"]
    if torch.isfinite(loss):
        return
    bad = [f"{name}={value.item()}" for name, value in terms.items() if name != "loss" and not torch.isfinite(value)]
    what = "the loss" if phase.name == "model" else f"the {phase.name}'s loss"
    rate = f"learning rate {lr:.4g}" if phase.scheduled else "its own learning rate"
    error = FloatingPointError(f"{label}: {what} became {loss.item()} at epoch {epoch}, step {step} ({rate}; "
                               f"non-finite terms: {', '.join(bad)}). Lower the learning rate or check the "
                               f"method's parameters {params.as_dict()}.")
    error.history = history  # the epochs completed before it diverged
    raise error
