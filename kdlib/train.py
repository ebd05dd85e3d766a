"""The one training loop every method in the book goes through.

Data stay on the device as uint8 tensors; each step slices a batch, augments and normalises it there, so there is no
DataLoader and no worker process. A method only computes its loss from logits (``kdlib.methods``); this loop owns
the model, the optimiser, the schedule, evaluation and the history.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from kdlib.data import Dataset, augment, normalise, split_indices
from kdlib.methods import get_method, resolve_params
from kdlib.models import build_model, count_parameters, is_convolutional


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


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, data: Dataset, device: torch.device,
                   batch_size: int = 1000, forward: Callable | None = None) -> torch.Tensor:
    """Logits (float32, on the CPU) for uint8 images, in evaluation mode, in the given order; ``forward`` (default:
    the model itself) maps a normalised batch to its outputs."""
    model.eval()
    channels_last = device.type == "cuda" and is_convolutional(model)
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = normalise(images[start:start + batch_size].to(device), data.mean, data.std)
        if channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            outputs.append((forward or model)(batch).float().cpu())
    return torch.cat(outputs) if outputs else torch.empty(0, data.n_classes)


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, data: Dataset,
             device: torch.device) -> float:
    if len(images) == 0:
        return float("nan")
    return (predict_logits(model, images, data, device).argmax(1) == labels).float().mean().item()


def exit_accuracies(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, data: Dataset,
                    device: torch.device, split: str) -> dict[str, float]:
    """Accuracy of every exit of a multi-exit network (``exit1`` the shallowest) and of their ensemble, the sum of
    all exits' logits (as the official self-distillation code sums them), from one pass over the images."""
    if len(images) == 0:
        names = [f"exit{k + 1}_{split}_acc" for k in range(model.n_exits)] + [f"ensemble_{split}_acc"]
        return dict.fromkeys(names, float("nan"))
    logits = predict_logits(model, images, data, device,
                            forward=lambda batch: torch.stack(model.forward_exits(batch)[0], 1))
    correct = {f"exit{k + 1}_{split}_acc": logits[:, k].argmax(1) == labels for k in range(logits.shape[1])}
    correct[f"ensemble_{split}_acc"] = logits.sum(1).argmax(1) == labels
    return {name: value.float().mean().item() for name, value in correct.items()}


def _learning_rate(schedule: str, base_lr: float, progress: float, warmup: float = 0.0) -> float:
    """Learning rate at ``progress`` ∈ [0, 1) of training: cosine to zero, constant, ÷10 at 50 % and 75 % (``step``),
    or ÷5 at 30 %, 60 % and 80 % (``step5``: epochs 60, 120 and 160 of 200, the CIFAR recipe of Yuan et al.), or ÷10
    at a third, two thirds and 96 % (``thirds``: epochs 83, 166 and 240 of 250, the official self-distillation code),
    or ×0.998 per epoch of Hinton et al. 2012's 3000 (``hinton2012``, compressed into the run's epochs).

    ``warmup_cosine`` ramps linearly from zero over the first ``warmup`` of training (the trainer passes one epoch),
    then follows the cosine: large soft-target gradients at high T can otherwise wreck a fresh student.
    """
    if schedule == "warmup_cosine":
        ramp = min(1.0, (progress + 1e-12) / warmup) if warmup > 0 else 1.0
        return ramp * _learning_rate("cosine", base_lr, progress)
    if schedule == "cosine":
        return base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))
    if schedule == "step":
        return base_lr * (0.1 ** ((progress >= 0.5) + (progress >= 0.75)))
    if schedule == "step5":
        return base_lr * (0.2 ** ((progress >= 0.3) + (progress >= 0.6) + (progress >= 0.8)))
    if schedule == "thirds":
        return base_lr * (0.1 ** ((progress >= 1 / 3) + (progress >= 2 / 3) + (progress >= 0.96)))
    if schedule == "hinton2012":
        return base_lr * HINTON2012_DECAY ** (progress * HINTON2012_EPOCHS)
    return base_lr


# Hinton et al. 2012 (arXiv:1207.0580), appendix A, the recipe Hinton et al. 2015 §3 points to for its MNIST teacher:
# 3000 epochs of 100-image batches; ε_t = ε_0 · 0.998^t; momentum rising linearly from 0.5 to 0.99 over the first
# 500 epochs; Δw_t = p_t Δw_{t-1} − (1 − p_t) ε_t ∇w; after every update, each hidden unit's incoming weight vector
# is scaled back to squared length at most 15. A run of E epochs follows this schedule compressed in time: epoch e
# of the run stands for epoch e · 3000 / E of the recipe, so it ends with the recipe's final rate and momentum.
HINTON2012_EPOCHS = 3000
HINTON2012_DECAY = 0.998
HINTON2012_MOMENTUM_EPOCHS = 500
HINTON2012_INITIAL_MOMENTUM = 0.5
HINTON2012_SQUARED_LENGTH = 15.0


def _momentum(spec, progress: float) -> float:
    """The momentum at ``progress`` of training: constant, except under the 2012 dropout recipe's linear ramp."""
    if spec.schedule != "hinton2012":
        return spec.momentum
    ramp = min(1.0, progress * HINTON2012_EPOCHS / HINTON2012_MOMENTUM_EPOCHS)
    return HINTON2012_INITIAL_MOMENTUM + ramp * (spec.momentum - HINTON2012_INITIAL_MOMENTUM)


class DropoutPaperSGD(torch.optim.Optimizer):
    """The update of Hinton et al. 2012: Δw = p·Δw − (1 − p)·ε·∇w, then a max-norm projection.

    Not torch's SGD with dampening, whose velocity is multiplied by the current rate: here the rate in force when a
    gradient arrived stays in its share of the velocity, as the paper writes the update. Groups with ``max_norm``
    hold weight matrices (out × in) whose rows are each rescaled to L2 norm at most ``max_norm``.
    """

    def __init__(self, groups, lr: float, momentum: float):
        super().__init__(groups, dict(lr=lr, momentum=momentum, max_norm=None))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self.state[param]
                if "velocity" not in state:
                    state["velocity"] = torch.zeros_like(param)
                velocity = state["velocity"]
                velocity.mul_(group["momentum"]).add_(param.grad, alpha=-(1 - group["momentum"]) * group["lr"])
                param.add_(velocity)
                if group["max_norm"] is not None:
                    norms = param.norm(dim=1, keepdim=True)
                    param.mul_(torch.clamp(group["max_norm"] / norms.clamp_min(1e-12), max=1.0))


def hidden_weights(model: nn.Module) -> list[nn.Parameter]:
    """The weight matrices of every fully connected layer but the last (the output layer): the hidden units whose
    incoming weights the 2012 recipe bounds. Relies on the layers being registered in forward order, as
    ``kdlib.models``' MLPs are."""
    linear = [module for module in model.modules() if isinstance(module, nn.Linear)]
    return [module.weight for module in linear[:-1]]


def _optimizer(spec, model: nn.Module) -> torch.optim.Optimizer:
    if spec.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    if spec.optimizer == "hinton2012":
        bounded = hidden_weights(model)
        if is_convolutional(model) or not bounded:
            raise ValueError(f"optimizer 'hinton2012' bounds the hidden units' incoming weights of a fully connected "
                             f"network, and {spec.model!r} is not one (convolutions, or no hidden layer); use it "
                             f"with an MLP (e.g. mlp_2x1200_dropout)")
        ids = {id(weight) for weight in bounded}
        rest = [param for param in model.parameters() if id(param) not in ids]
        return DropoutPaperSGD([{"params": bounded, "max_norm": math.sqrt(HINTON2012_SQUARED_LENGTH)},
                                {"params": rest}], lr=spec.lr, momentum=_momentum(spec, 0.0))
    return torch.optim.SGD(model.parameters(), lr=spec.lr, momentum=spec.momentum,
                           weight_decay=spec.weight_decay, nesterov=spec.momentum > 0)


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
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{row['train_loss']:.3f}", val=f"{row['val_acc']:.4f}")
            self.bar.update(1)
        elif not self.quiet:
            print(f"[{self.label}] epoch {row['epoch']}/{self.epochs} loss {row['train_loss']:.4f} "
                  f"val {row['val_acc']:.4f} test {row['test_acc']:.4f} ({row['epoch_time_s']:.1f}s)",
                  file=sys.stderr, flush=True)

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


@torch.enable_grad()  # a caller inside torch.no_grad() (a notebook loading a teacher) must still train
def train(spec, data: Dataset, teacher: nn.Module | None = None, teacher_logits: torch.Tensor | None = None,
          device: torch.device | None = None, progress: str = "auto", label: str = "run",
          checkpoint: Callable[[dict], None] | None = None, resume: dict | None = None,
          init_state: dict[str, torch.Tensor] | None = None, batches=None) -> TrainResult:
    """Train the model that ``spec`` (a ``kdlib.runs.RunSpec``) describes and evaluate it after every epoch.

    ``teacher_logits`` (one row per image of the original training set, un-augmented; or rows × teachers × classes
    for several teachers, one drawn per row at every step) let a student distil without running its teacher; a
    student trained with augmentation needs the ``teacher`` model itself, which then sees the same augmented batch.
    Model selection uses the validation split carved out of the training set; the test accuracy of every epoch is
    recorded but never used to choose anything.

    ``checkpoint`` is called after every epoch but the last with the complete training state (weights, optimiser,
    random-number generators, history); passing that state back as ``resume`` continues the run where it stopped,
    and on the CPU ends exactly where an uninterrupted run would.

    ``batches`` replaces the training set for data-free KD (``kdlib.methods.data_free``): ``steps_per_epoch``,
    ``next_batch()`` (normalised images, no gradient attached) and ``epoch_summary()``. Its images have no labels;
    the teacher's top class stands in for them in the training accuracy. No training image is read, not even for
    validation. A generator run (RDSKD's first stage) is trained by ``kdlib.methods.data_free.train_generator``.
    """
    device = device or pick_device()
    method = get_method(spec.method)
    if method.inputs == "latent":  # the generator is the model; the student is trained by a later run
        from kdlib.methods.data_free import train_generator
        return train_generator(spec, data, teacher, device or pick_device(), progress, label, checkpoint, resume)
    if (method.inputs == "data") != (batches is None):
        raise ValueError(f"method {spec.method!r} reads {method.inputs!r} inputs: pass batches= exactly when the "
                         f"method is data-free (kdlib.methods.data_free.batch_source builds them)")
    params = resolve_params(spec.method, dict(spec.method_params))
    if method.needs_teacher and teacher is None and teacher_logits is None:
        raise ValueError(f"method {spec.method!r} needs a teacher: pass teacher or teacher_logits")
    if teacher_logits is not None and teacher is None and spec.augment != "none":
        raise ValueError(f"cached teacher logits belong to un-augmented images, but this run uses "
                         f"augment={spec.augment!r}; pass the teacher model instead")

    torch.manual_seed(spec.seed)
    model = build_model(spec.model, data.image_shape, data.n_classes).to(device)
    if method.joint and not hasattr(model, "forward_both"):
        raise ValueError(f"method {spec.method!r} trains a light net and a booster together; {spec.model!r} is "
                         f"not such a pair (use a rocket_* model)")
    if method.exits and not hasattr(model, "forward_exits"):
        raise ValueError(f"method {spec.method!r} trains every exit of a multi-exit network; {spec.model!r} has no "
                         f"exits (use a *_sd_* model)")
    if init_state is not None:
        inherit_weights(model, init_state)
    channels_last = device.type == "cuda" and is_convolutional(model)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if teacher is not None:
        teacher = teacher.to(device).eval()
    optimizer = _optimizer(spec, model)
    generator = torch.Generator().manual_seed(spec.seed + 1)

    if batches is None:
        train_idx, val_idx = split_indices(len(data.train_images), spec.val_size, spec.subset)
        images = data.train_images[train_idx].to(device)
        labels = data.train_labels[train_idx].to(device)
        targets = teacher_logits[train_idx].to(device) if teacher_logits is not None and teacher is None else None
        val_images, val_labels = data.train_images[val_idx], data.train_labels[val_idx]
        steps_per_epoch = math.ceil(len(images) / spec.batch_size)
    else:  # data-free: generated batches, and no validation split (it would be real training images)
        targets, steps_per_epoch = None, batches.steps_per_epoch
        val_images, val_labels = data.test_images[:0], data.test_labels[:0]
    test_images, test_labels = data.test_images, data.test_labels
    if spec.subset is not None:
        test_images, test_labels = test_images[: spec.subset], test_labels[: spec.subset]

    total_steps = spec.epochs * steps_per_epoch
    stop_step = getattr(spec, "stop_step", None) or total_steps
    if stop_step > total_steps:
        raise ValueError(f"stop_step={stop_step} is beyond the run's {total_steps} steps "
                         f"({spec.epochs} epochs of {steps_per_epoch}); lower it or add epochs")
    history: list[dict[str, float]] = []
    step, done, elapsed_before = 0, 0, 0.0
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        _set_rng_state(resume["rng"], generator, device)
        history, step, done, elapsed_before = resume["history"], resume["step"], resume["epoch"], resume["elapsed"]
        if batches is not None:
            batches.load_state_dict(resume["batches"])
    bar = _Progress(label, spec.epochs, progress)
    started = time.perf_counter()
    try:
        for epoch in range(done + 1, spec.epochs + 1):
            epoch_start = time.perf_counter()
            model.train()
            order = torch.randperm(len(images), generator=generator).to(device) if batches is None else None
            sums: dict[str, float] = {}
            correct = seen = 0
            for start in range(0, steps_per_epoch * spec.batch_size, spec.batch_size):
                if step >= stop_step:  # a checkpoint of a longer run: stop mid-epoch, evaluate what was trained
                    break
                lr = _learning_rate(spec.schedule, spec.lr, step / total_steps, warmup=1.0 / spec.epochs)
                momentum = _momentum(spec, step / total_steps)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                    if spec.schedule == "hinton2012":
                        group["momentum"] = momentum
                if batches is None:
                    batch_idx = order[start:start + spec.batch_size]
                    batch = normalise(augment(images[batch_idx], spec.augment, generator), data.mean, data.std)
                    batch_labels = labels[batch_idx]
                else:
                    batch, batch_labels = batches.next_batch(), None
                if channels_last:
                    batch = batch.contiguous(memory_format=torch.channels_last)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                    if method.joint:
                        logits, booster_logits = model.forward_both(batch)
                    elif method.exits:
                        exit_logits, exit_features = model.forward_exits(batch)
                        logits = exit_logits[-1]
                    else:
                        logits = model(batch)
                    if teacher is not None:
                        with torch.no_grad():
                            batch_targets = teacher(batch)
                    else:
                        batch_targets = targets[batch_idx] if targets is not None else None
                if batch_targets is not None and batch_targets.dim() == 3:  # several teachers: one per row
                    pick = torch.randint(batch_targets.shape[1], (len(batch),), generator=generator)
                    batch_targets = batch_targets[torch.arange(len(batch), device=device), pick.to(device)]
                if batch_labels is None:  # generated images: the teacher's top class is the only label there is
                    batch_labels = batch_targets.argmax(1)
                extra = {"teacher_logits": batch_targets.float()} if method.needs_teacher else {}
                if method.joint:
                    extra["booster_logits"] = booster_logits.float()
                if method.exits:
                    extra.update(exit_logits=[value.float() for value in exit_logits],
                                 exit_features=[value.float() for value in exit_features])
                terms = method.loss(logits.float(), batch_labels, **extra, **params)
                loss = terms["loss"]
                if not torch.isfinite(loss):
                    bad = [f"{name}={value.item()}" for name, value in terms.items()
                           if name != "loss" and not torch.isfinite(value)]
                    error = FloatingPointError(
                        f"{label}: the loss became {loss.item()} at epoch {epoch}, step {step} (learning rate "
                        f"{lr:.4g}; non-finite terms: {', '.join(bad)}). Lower the learning rate or check the "
                        f"method's parameters {params}.")
                    error.history = history  # the epochs completed before it diverged
                    raise error
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                for name, value in terms.items():
                    sums[name] = sums.get(name, 0.0) + value.item() * len(batch)
                correct += (logits.argmax(1) == batch_labels).sum().item()
                seen += len(batch)
            train_seconds = time.perf_counter() - epoch_start
            row = {"epoch": epoch, "step": step, "lr": lr,
                   **{f"train_{name}": total / seen for name, total in sums.items()},
                   "train_acc": correct / seen, "train_time_s": train_seconds,
                   **(batches.epoch_summary() if batches is not None else {})}
            if method.exits:  # every exit from one pass; the network's own accuracy is its deepest exit's
                for split, split_images, split_labels in (("val", val_images, val_labels),
                                                          ("test", test_images, test_labels)):
                    row.update(exit_accuracies(model, split_images, split_labels, data, device, split))
                    row[f"{split}_acc"] = row[f"exit{model.n_exits}_{split}_acc"]
            else:
                row["val_acc"] = accuracy(model, val_images, val_labels, data, device)
                row["test_acc"] = accuracy(model, test_images, test_labels, data, device)
            if method.joint:
                row["booster_val_acc"] = accuracy(model.booster, val_images, val_labels, data, device)
                row["booster_test_acc"] = accuracy(model.booster, test_images, test_labels, data, device)
            row["epoch_time_s"] = time.perf_counter() - epoch_start
            history.append(row)
            bar.epoch(row)
            if step >= stop_step:
                break
            if checkpoint is not None and epoch < spec.epochs:
                checkpoint({"epoch": epoch, "step": step, "history": history, "model": model.state_dict(),
                            "optimizer": optimizer.state_dict(), "rng": _rng_state(generator, device),
                            "elapsed": elapsed_before + time.perf_counter() - started,
                            **({"batches": batches.state_dict()} if batches is not None else {})})
    finally:
        bar.close()

    best = max(history, key=lambda r: (r["val_acc"], r["epoch"])) if spec.val_size else history[-1]
    metrics = {
        "test_acc": history[-1]["test_acc"],
        "test_errors": round((1.0 - history[-1]["test_acc"]) * len(test_labels)),
        "test_acc_at_best_val": best["test_acc"],
        "best_val_epoch": best["epoch"],
        "val_acc": history[-1]["val_acc"],
        "test_acc_max_over_epochs": max(r["test_acc"] for r in history),
        "n_params": count_parameters(model),
        "n_test": len(test_labels),
        "train_time_s": elapsed_before + time.perf_counter() - started,
    }
    if method.joint:
        metrics.update(booster_test_acc=history[-1]["booster_test_acc"], booster_val_acc=history[-1]["booster_val_acc"],
                       n_params_light=model.light_parameter_count())
    if method.exits:
        metrics.update({name: value for name, value in history[-1].items() if name.startswith(("exit", "ensemble"))})
    return TrainResult(model.to(memory_format=torch.contiguous_format).cpu().eval(), metrics, history)
