"""Data-free KD: DAFL (Chen et al. 2019, ICCV) and RDSKD (Han et al. 2020, ICASSP 2021; arXiv 2011.03749).

A generator G maps Gaussian latents z to images; the teacher T is fixed; the student S learns from T on G(z) only.
No real training image reaches G or S (the test set is read only to evaluate S).

Generator losses on the teacher's logits t = T(G(z)) for a batch, p = softmax(t), p̄ = the batch mean of p:
- one-hot (authenticity): L_oh = CE(t, argmax t), batch mean: confident teacher outputs.
- information entropy (class diversity): L_ie = Σ_k p̄_k log p̄_k, the negative entropy of p̄, so minimising it
  spreads the batch over the classes. DAFL's code takes log10, RDSKD's code the natural log.
- activation (DAFL only): L_a = −mean |f|, f the teacher's features (the input of its classifier head).
- pairwise diversity (RDSKD only): the batch's first and second halves are paired row by row;
  l_z = ‖G(z₂) − G(z₁)‖ / ‖p₂ − p₁‖ (Frobenius norms over each half) and L_ds = 1 / (l_z + 1e-20): images should
  differ more than the teacher's outputs on them do.

DAFL: L_G = w_oh·L_oh + w_ie·L_ie + w_a·L_a (hand-set weights; the code's MNIST values 1, 5, 0.1), G and S updated
on the same batch at every step (``JointGeneratorBatches``).

RDSKD, as the official code computes it (the paper's equations could not be read, only its abstract: "exponentially
penalizing loss increments"): L_G = exp(L_oh − L_oh_prev) + exp(L_ie − L_ie_prev) + L_ds, no weights. The
previous values start at 0 and are refreshed once per epoch, after the step of the epoch's second iteration
(``i == 1``), so from the third iteration on each increment is measured against that iteration's value
(``ExponentialPenalty``). G is trained first (``train_generator``), then frozen, and the student distils from the
teacher on G(z) with T²·KL at T = 10 (``FrozenGeneratorBatches``).

Deviations (stated in the chapter): MNIST stays 28×28 (the codes resize it to 32×32; kdlib's LeNet-5 pads by 2),
so the generator starts at 7×7, not 8×8; the ``cpu`` profile narrows the generator and shortens both phases;
DAFL's best student is chosen on the test set in its code, kdlib reports the last epoch.
"""

from __future__ import annotations

import copy
import math
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from kdlib.losses import kd_divergence
from kdlib.methods import register_method
from kdlib.models import MODELS

LATENT_DIM = 100  # the codes' MNIST latent size
GENERATOR_WIDTHS = (16, 32, 64, 128, 256)  # 128: the codes' generator; the narrower ones fit a CPU


# --- the generator ------------------------------------------------------------------------------------------------

class Generator(nn.Module):
    """DAFL's generator: linear → width × H/4 × W/4, BN, then two (×2 nearest upsample, 3×3 conv, BN, LeakyReLU 0.2)
    stages at widths ``width`` and ``width/2``, a 3×3 conv to the image's channels, tanh, and a BatchNorm without
    affine parameters, so each channel of a batch comes out with mean 0 and variance 1, like normalised images.

    The intermediate BatchNorms get eps = 0.8: the codes pass 0.8 as BatchNorm2d's second positional argument,
    which is eps, not momentum."""

    def __init__(self, image_shape: tuple[int, int, int], width: int = 128, latent_dim: int = LATENT_DIM):
        super().__init__()
        channels, height, image_width = image_shape
        if height % 4 or image_width % 4:
            raise ValueError(f"the generator doubles its size twice, so the image side must be a multiple of 4; "
                             f"got {height}×{image_width}")
        self.latent_dim, self.width, self.start = latent_dim, width, (height // 4, image_width // 4)
        self.project = nn.Linear(latent_dim, width * self.start[0] * self.start[1])
        self.bn0 = nn.BatchNorm2d(width)
        self.stage1 = nn.Sequential(nn.Conv2d(width, width, 3, 1, 1), nn.BatchNorm2d(width, eps=0.8),
                                    nn.LeakyReLU(0.2))
        self.stage2 = nn.Sequential(nn.Conv2d(width, width // 2, 3, 1, 1), nn.BatchNorm2d(width // 2, eps=0.8),
                                    nn.LeakyReLU(0.2))
        self.to_image = nn.Sequential(nn.Conv2d(width // 2, channels, 3, 1, 1), nn.Tanh(),
                                      nn.BatchNorm2d(channels, affine=False))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.bn0(self.project(z).view(len(z), self.width, *self.start))  # (B, width, H/4, W/4)
        x = self.stage1(F.interpolate(x, scale_factor=2))  # (B, width, H/2, W/2)
        return self.to_image(self.stage2(F.interpolate(x, scale_factor=2)))  # (B, C, H, W)


def _generator(width: int):
    def build(image_shape, n_classes):
        return Generator(image_shape, width)
    build.__doc__ = f"DAFL/RDSKD generator, width {width} (the codes' is 128), latent {LATENT_DIM}."
    return build


for _width in GENERATOR_WIDTHS:
    MODELS[f"dafl_generator_{_width}"] = _generator(_width)


def is_generator(model_name: str) -> bool:
    return model_name.startswith("dafl_generator_")


# --- the generator's loss terms -----------------------------------------------------------------------------------

def one_hot_loss(teacher_logits: torch.Tensor) -> torch.Tensor:
    """L_oh = CE(t, argmax t), batch mean: the teacher should be sure of each generated image."""
    return F.cross_entropy(teacher_logits, teacher_logits.argmax(1))


def information_entropy_loss(teacher_logits: torch.Tensor, log_base: float = math.e) -> torch.Tensor:
    """L_ie = Σ_k p̄_k log p̄_k (p̄: batch-mean softmax), the negative entropy: lowest when p̄ is uniform.
    DAFL's code uses log10 (``log_base=10``), RDSKD's the natural log."""
    mean_probs = F.softmax(teacher_logits, dim=1).mean(0)
    return (mean_probs * torch.log(mean_probs)).sum() / math.log(log_base)


def activation_loss(teacher_features: torch.Tensor) -> torch.Tensor:
    """L_a = −mean |f| over batch and features: DAFL rewards strong teacher features."""
    return -teacher_features.abs().mean()


def pairwise_diversity_loss(images: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """L_ds = 1 / (l_z + 1e-20), l_z = ‖x₂ − x₁‖ / ‖p₂ − p₁‖ with the batch's first and second halves paired row by
    row and Frobenius norms over each half (the official RDSKD code)."""
    if len(images) < 2 or len(images) % 2:
        raise ValueError(f"the pairwise diversity term pairs the batch's two halves, so it needs an even batch of "
                         f"at least 2, got {len(images)}; use an even batch_size >= 2")
    half = len(images) // 2
    probs = F.softmax(teacher_logits, dim=1)
    ratio = torch.norm(images[half:] - images[:half]) / torch.norm(probs[half:] - probs[:half])
    return 1.0 / (ratio + 1e-20)


class ExponentialPenalty:
    """RDSKD's combination: exp(L_oh − L_oh_prev) + exp(L_ie − L_ie_prev) + L_ds.

    The rule (the official code's): the previous values start at 0; ``after_step(i, terms)`` stores the detached
    values of iteration ``i == 1`` of every epoch (the second one), so from then on each increment is measured
    against them. When a term has not changed since then, its factor is exp(0) = 1."""

    REFRESH_ITERATION = 1

    def __init__(self):
        self.previous = {"one_hot": 0.0, "entropy": 0.0}

    def __call__(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        return (torch.exp(terms["one_hot"] - self.previous["one_hot"])
                + torch.exp(terms["entropy"] - self.previous["entropy"]) + terms["diversity"])

    def after_step(self, iteration: int, terms: dict[str, torch.Tensor]) -> None:
        if iteration == self.REFRESH_ITERATION:
            self.previous = {name: terms[name].detach().clone() for name in self.previous}

    def state_dict(self) -> dict:
        return {name: torch.as_tensor(value) for name, value in self.previous.items()}

    def load_state_dict(self, state: dict) -> None:
        self.previous = {name: state[name] for name in self.previous}


def dafl_generator_loss(teacher_logits, teacher_features, one_hot: float, entropy: float,
                        activation: float) -> dict[str, torch.Tensor]:
    """DAFL: w_oh·L_oh + w_ie·L_ie (log10, as its code) + w_a·L_a, named terms and the total under ``"loss"``."""
    terms = {"one_hot": one_hot_loss(teacher_logits),
             "entropy": information_entropy_loss(teacher_logits, log_base=10.0),
             "activation": activation_loss(teacher_features)}
    terms["loss"] = one_hot * terms["one_hot"] + entropy * terms["entropy"] + activation * terms["activation"]
    return terms


def rdskd_generator_loss(images, teacher_logits, penalty: ExponentialPenalty) -> dict[str, torch.Tensor]:
    """RDSKD: exp-penalised one-hot and entropy increments plus the pairwise diversity term, no weights."""
    terms = {"one_hot": one_hot_loss(teacher_logits), "entropy": information_entropy_loss(teacher_logits),
             "diversity": pairwise_diversity_loss(images, teacher_logits)}
    terms["loss"] = penalty(terms)
    return terms


def teacher_outputs(teacher: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, features): the features are the output of the teacher's ``nn.Flatten`` (for LeNet-5 the 120
    activations of its last convolution, DAFL's choice)."""
    flatten = next((m for m in teacher.modules() if isinstance(m, nn.Flatten)), None)
    if flatten is None:
        raise ValueError(f"{type(teacher).__name__} has no nn.Flatten layer whose output could serve as DAFL's "
                         "teacher features; use a teacher such as lenet5")
    captured = []
    handle = flatten.register_forward_hook(lambda module, inputs, output: captured.append(output))
    try:
        logits = teacher(images)
    finally:
        handle.remove()
    return logits, captured[-1]


# --- methods: the student's loss (the trainer runs it) and the generator's (the batch sources run it) ------------

def _check(params: dict[str, float], n_classes: int | None = None) -> None:
    if not params["temperature"] > 0:
        raise ValueError(f"temperature must be > 0, got {params['temperature']}")
    if params["iterations"] < 1 or params["iterations"] != int(params["iterations"]):
        raise ValueError(f"iterations (steps per epoch) must be a positive integer, got {params['iterations']}")
    for name in ("one_hot", "entropy", "activation"):
        if name in params and not params[name] >= 0:
            raise ValueError(f"{name} (a DAFL loss weight) must be >= 0, got {params[name]}; a negative weight "
                             f"would reward the opposite of what the term asks for")
    if "lr_generator" in params and not params["lr_generator"] > 0:
        raise ValueError(f"lr_generator must be > 0, got {params['lr_generator']}")
    if "generator_width" in params and params["generator_width"] not in GENERATOR_WIDTHS:
        raise ValueError(f"generator_width must be one of {GENERATOR_WIDTHS}, got {params['generator_width']}")


def _student_kd(student_logits, teacher_logits, temperature):
    """T²·KL(softmax(t/T) ‖ softmax(s/T)), summed over classes and averaged over the batch, as both codes do."""
    kd = kd_divergence(student_logits, teacher_logits, temperature)
    return {"loss": kd, "kd": kd}


STUDENT_DEFAULTS = {"temperature": 10.0, "iterations": 120.0}  # RDSKD's student: T = 10, 120 iterations per epoch
DAFL_DEFAULTS = {"temperature": 1.0, "iterations": 120.0, "one_hot": 1.0, "entropy": 5.0, "activation": 0.1,
                 "lr_generator": 0.2, "generator_width": 128.0}  # DAFL's MNIST command


@register_method("rdskd", defaults=STUDENT_DEFAULTS, needs_teacher=True, check=_check, inputs="generator")
def rdskd_student(student_logits, labels, teacher_logits, temperature, iterations):
    """RDSKD's student: KD from the teacher on images of a frozen, pre-trained generator (``RunSpec.generator``)."""
    return _student_kd(student_logits, teacher_logits, temperature)


@register_method("kd_noise", defaults=STUDENT_DEFAULTS, needs_teacher=True, check=_check, inputs="noise")
def noise_student(student_logits, labels, teacher_logits, temperature, iterations):
    """The lower bound: RDSKD's student phase with the generator replaced by Gaussian noise images."""
    return _student_kd(student_logits, teacher_logits, temperature)


@register_method("dafl", defaults=DAFL_DEFAULTS, needs_teacher=True, check=_check, inputs="joint_generator")
def dafl_student(student_logits, labels, teacher_logits, temperature, iterations, **generator_settings):
    """DAFL's student: KD at T = 1 on the batch its generator has just been updated on; ``generator_settings``
    (loss weights, learning rate, width) drive that generator (``JointGeneratorBatches``), not this loss."""
    return _student_kd(student_logits, teacher_logits, temperature)


@register_method("rdskd_generator", defaults={"iterations": 120.0}, needs_teacher=True, inputs="latent",
                 check=lambda params, n_classes=None: _check({**STUDENT_DEFAULTS, **params}))
def rdskd_generator(images, teacher_logits, penalty, iterations=120.0):
    """RDSKD stage 1: the generator's loss (``train_generator`` runs it; the spec's lr, batch and epochs apply)."""
    return rdskd_generator_loss(images, teacher_logits, penalty)


# --- batch sources: what a data-free student trains on ------------------------------------------------------------

def _latents(batch_size: int, rng: torch.Generator, device) -> torch.Tensor:
    return torch.randn(batch_size, LATENT_DIM, generator=rng).to(device)


class NoiseBatches:
    """Images of independent N(0, 1) pixels: the scale of normalised images, nothing of their content."""

    def __init__(self, image_shape, batch_size: int, steps_per_epoch: int, seed: int, device):
        self.image_shape, self.batch_size, self.steps_per_epoch = tuple(image_shape), batch_size, steps_per_epoch
        self.rng, self.device = torch.Generator().manual_seed(seed + 2), device

    def sample(self, n: int, rng: torch.Generator) -> torch.Tensor:
        return torch.randn(n, *self.image_shape, generator=rng).to(self.device)

    def next_batch(self) -> torch.Tensor:
        return self.sample(self.batch_size, self.rng)

    def epoch_summary(self) -> dict[str, float]:
        return {}

    def state_dict(self) -> dict:
        return {"rng": self.rng.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.rng.set_state(state["rng"])


class FrozenGeneratorBatches(NoiseBatches):
    """G(z) from a trained generator in evaluation mode (RDSKD's ``generator.eval()``), without gradients."""

    def __init__(self, generator: nn.Module, batch_size: int, steps_per_epoch: int, seed: int, device):
        super().__init__((), batch_size, steps_per_epoch, seed, device)
        self.generator = generator.to(device).eval()

    @torch.no_grad()
    def sample(self, n: int, rng: torch.Generator) -> torch.Tensor:
        return self.generator(_latents(n, rng, self.device))


class JointGeneratorBatches(NoiseBatches):
    """DAFL's step: each batch first updates the generator on its own loss against the fixed teacher, then the
    same images (detached, as generated before that update) go to the student. The student's KD loss never reaches
    G, so this equals DAFL's joint update of G and S on one batch."""

    def __init__(self, teacher: nn.Module, batch_size: int, seed: int, device, image_shape, params: dict):
        super().__init__(image_shape, batch_size, int(params["iterations"]), seed, device)
        torch.manual_seed(seed + 3)  # the generator's initial weights
        self.generator = Generator(image_shape, int(params["generator_width"])).to(device).train()
        self.teacher = teacher.to(device).eval().requires_grad_(False)  # fixed: gradients flow through it to G only
        self.optimizer = torch.optim.Adam(self.generator.parameters(), lr=params["lr_generator"])
        self.weights = {name: params[name] for name in ("one_hot", "entropy", "activation")}
        self.sums: dict[str, float] = {}
        self.count = 0

    def sample(self, n: int, rng: torch.Generator) -> torch.Tensor:
        with torch.no_grad():
            return copy.deepcopy(self.generator).train()(_latents(n, rng, self.device))

    def next_batch(self) -> torch.Tensor:
        images = self.generator(_latents(self.batch_size, self.rng, self.device))
        terms = dafl_generator_loss(*teacher_outputs(self.teacher, images), **self.weights)
        _generator_step(self.optimizer, terms["loss"], "DAFL generator")
        for name, value in terms.items():
            self.sums[name] = self.sums.get(name, 0.0) + value.item()
        self.count += 1
        return images.detach()

    def epoch_summary(self) -> dict[str, float]:
        summary = {f"generator_{name}": total / self.count for name, total in self.sums.items()}
        self.sums, self.count = {}, 0
        return summary

    def state_dict(self) -> dict:
        return {"rng": self.rng.get_state(), "generator": self.generator.state_dict(),
                "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.rng.set_state(state["rng"])
        self.generator.load_state_dict(state["generator"])
        self.optimizer.load_state_dict(state["optimizer"])


def _generator_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, what: str) -> None:
    if not torch.isfinite(loss):
        raise FloatingPointError(f"the {what}'s loss became {loss.item()}; lower its learning rate")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def batch_source(spec, data, teacher: nn.Module, device, generator: nn.Module | None = None):
    """The batches a data-free student spec trains on; None for a spec that reads real images."""
    from kdlib.methods import get_method, resolve_params

    method = get_method(spec.method)
    params = resolve_params(spec.method, dict(spec.method_params))
    steps = int(params["iterations"])
    if method.inputs == "noise":
        return NoiseBatches(data.image_shape, spec.batch_size, steps, spec.seed, device)
    if method.inputs == "generator":
        return FrozenGeneratorBatches(generator, spec.batch_size, steps, spec.seed, device)
    if method.inputs == "joint_generator":
        return JointGeneratorBatches(teacher, spec.batch_size, spec.seed, device, data.image_shape, params)
    return None


# --- RDSKD stage 1: the generator alone against the fixed teacher -------------------------------------------------

def train_generator(spec, data, teacher: nn.Module, device, progress: str = "auto", label: str = "generator",
                    checkpoint=None, resume: dict | None = None):
    """Train ``spec.model`` (a generator) on RDSKD's loss for ``epochs`` × ``iterations`` steps of Adam (the
    spec's lr and batch), the teacher fixed in evaluation mode. Returns a ``TrainResult`` whose metrics describe
    what the generator makes (``sample_statistics``); the history holds each epoch's mean loss terms."""
    from kdlib.methods import resolve_params
    from kdlib.models import build_model, count_parameters
    from kdlib.train import TrainResult

    iterations = int(resolve_params(spec.method, dict(spec.method_params))["iterations"])
    torch.manual_seed(spec.seed)
    if teacher is None:
        raise ValueError(f"the generator run {spec.id} needs its teacher model (teacher=...)")
    generator = build_model(spec.model, data.image_shape, data.n_classes).to(device).train()
    teacher = teacher.to(device).eval().requires_grad_(False)  # fixed: gradients flow through it to G only
    optimizer = torch.optim.Adam(generator.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    rng, penalty = torch.Generator().manual_seed(spec.seed + 1), ExponentialPenalty()
    history, done, elapsed_before = [], 0, 0.0
    if resume is not None:
        generator.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        rng.set_state(resume["rng"])
        penalty.load_state_dict(resume["penalty"])
        history, done, elapsed_before = resume["history"], resume["epoch"], resume["elapsed"]
    started = time.perf_counter()
    for epoch in range(done + 1, spec.epochs + 1):
        epoch_start, sums = time.perf_counter(), {}
        for iteration in range(iterations):
            images = generator(_latents(spec.batch_size, rng, device))
            terms = rdskd_generator_loss(images, teacher(images), penalty)
            _generator_step(optimizer, terms["loss"], f"{label} generator")
            penalty.after_step(iteration, terms)
            for name, value in terms.items():
                sums[name] = sums.get(name, 0.0) + value.item()
        row = {"epoch": epoch, "step": epoch * iterations, **{f"train_{k}": v / iterations for k, v in sums.items()},
               "train_time_s": time.perf_counter() - epoch_start}
        history.append(row)
        if progress != "off":
            print(f"[{label}] epoch {epoch}/{spec.epochs} loss {row['train_loss']:.4f} one-hot "
                  f"{row['train_one_hot']:.4f} entropy {row['train_entropy']:.4f} diversity "
                  f"{row['train_diversity']:.4f} ({row['train_time_s']:.1f}s)", file=sys.stderr, flush=True)
        if checkpoint is not None and epoch < spec.epochs:
            checkpoint({"epoch": epoch, "history": history, "model": generator.state_dict(),
                        "optimizer": optimizer.state_dict(), "rng": rng.get_state(), "penalty": penalty.state_dict(),
                        "elapsed": elapsed_before + time.perf_counter() - started})
    generator.eval()
    with torch.no_grad():
        images = generator(_latents(STATISTICS_SAMPLES, torch.Generator().manual_seed(STATISTICS_SEED), device))
    metrics = {"generator_loss": history[-1]["train_loss"], **sample_statistics(images, teacher),
               "n_params": count_parameters(generator),
               "train_time_s": elapsed_before + time.perf_counter() - started}
    return TrainResult(generator.cpu(), metrics, history)


# --- what the generated images look like to the teacher -----------------------------------------------------------

STATISTICS_SAMPLES = 1000  # images drawn to describe a generator (a fixed draw, the same for every generator)
STATISTICS_SEED = 12345


def _mean_pairwise_distance(vectors: torch.Tensor) -> float:
    """Mean Euclidean distance over all pairs of rows, divided by √(row length): a root-mean-square difference per
    pixel (or per feature), comparable across image sizes."""
    if len(vectors) < 2:
        return float("nan")
    distances = torch.pdist(vectors.double())
    return float(distances.mean() / math.sqrt(vectors.shape[1]))


@torch.no_grad()
def sample_statistics(images: torch.Tensor, teacher: nn.Module) -> dict:
    """How a set of (normalised) images looks to the teacher: the count of each class it predicts, the entropy of
    that histogram (nats; log K when balanced), its mean top-class probability, and the diversity within each
    predicted class: the mean pairwise distance of images (pixels) and of the teacher's features, averaged over
    the classes that hold at least two images."""
    teacher = teacher.eval()
    logits, features = teacher_outputs(teacher, images)
    probs = F.softmax(logits.float(), dim=1)
    predicted = probs.argmax(1).cpu()
    counts = torch.bincount(predicted, minlength=probs.shape[1])
    share = counts.double() / counts.sum()
    entropy = float(-(share[share > 0] * share[share > 0].log()).sum())
    flat_images, flat_features = images.flatten(1).cpu(), features.flatten(1).float().cpu()
    pixel, feature = [], []
    for k in range(probs.shape[1]):
        if counts[k] >= 2:
            pixel.append(_mean_pairwise_distance(flat_images[predicted == k]))
            feature.append(_mean_pairwise_distance(flat_features[predicted == k]))
    return {"generated_class_counts": counts.tolist(), "generated_class_entropy": entropy,
            "generated_confidence": float(probs.max(1).values.mean()),
            "generated_pixel_diversity": float(np.mean(pixel)) if pixel else float("nan"),
            "generated_feature_diversity": float(np.mean(feature)) if feature else float("nan")}


def source_statistics(source, teacher: nn.Module) -> dict:
    """``sample_statistics`` of a batch source's images, from the fixed draw every generator is described by."""
    images = source.sample(STATISTICS_SAMPLES, torch.Generator().manual_seed(STATISTICS_SEED))
    return sample_statistics(images, teacher)


@torch.no_grad()
def draw(generator: nn.Module, n: int, seed: int = STATISTICS_SEED, batch_statistics: bool = False) -> torch.Tensor:
    """``n`` images from a fixed latent draw. ``batch_statistics``: BatchNorm on the draw's own statistics, as
    DAFL's generator made the student's batches (it was never switched to evaluation mode); otherwise evaluation
    mode, as RDSKD's frozen generator."""
    model = copy.deepcopy(generator).train() if batch_statistics else generator.eval()
    return model(_latents(n, torch.Generator().manual_seed(seed), next(generator.parameters()).device))


@torch.no_grad()
def class_grid(images: torch.Tensor, teacher: nn.Module, per_class: int) -> list[list[torch.Tensor]]:
    """For each class, up to ``per_class`` of the images the teacher assigns to it (in draw order)."""
    predicted = teacher.eval()(images).argmax(1).cpu()
    n_classes = teacher(images[:1]).shape[1]
    return [[images[i].cpu() for i in torch.nonzero(predicted == k).flatten()[:per_class].tolist()]
            for k in range(n_classes)]
