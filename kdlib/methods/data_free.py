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
on the same batch at every step: the generator is a phase of the student's run (``dafl_phases``), updated first.

RDSKD, as the official code computes it (the paper's equations could not be read, only its abstract: "exponentially
penalizing loss increments"): L_G = exp(L_oh − L_oh_prev) + exp(L_ie − L_ie_prev) + L_ds, no weights. The
previous values start at 0 and are refreshed once per epoch, after the step of the epoch's second iteration
(``i == 1``), so from the third iteration on each increment is measured against that iteration's value
(``ExponentialPenalty``). G is trained first, by a run of its own whose one phase is the generator's
(``rdskd_generator_phases``), then frozen, and the student distils from the teacher on G(z) with T²·KL at T = 10
(``FrozenGeneratorFeed``).

Deviations (stated in the chapter): MNIST stays 28×28 (the codes resize it to 32×32; kdlib's LeNet-5 pads by 2),
so the generator starts at 7×7, not 8×8; the ``cpu`` profile narrows the generator and shortens both phases;
DAFL's best student is chosen on the test set in its code, kdlib reports the last epoch.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from kdlib.losses import kd_divergence
from kdlib.methods.base import Context, Params, Phase, choice, get_method, number, register_method
from kdlib.models import build_model, register_model

LATENT_DIM = 100  # the codes' MNIST latent size
GENERATOR_WIDTHS = (16, 32, 64, 128, 256)  # 128: the codes' generator; the narrower ones fit a CPU


# --- the generator ------------------------------------------------------------------------------------------------

class Generator(nn.Module):
    """DAFL's generator: linear → width × H/4 × W/4, BN, then two (×2 nearest upsample, 3×3 conv, BN, LeakyReLU 0.2)
    stages at widths ``width`` and ``width/2``, a 3×3 conv to the image's channels, tanh, and a BatchNorm without
    affine parameters, so each channel of a batch comes out with mean 0 and variance 1, like normalised images.

    The intermediate BatchNorms get eps = 0.8: the codes pass 0.8 as BatchNorm2d's second positional argument,
    which is eps, not momentum."""

    heads = ()  # not a classifier: the trainer evaluates no head of it

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


def generator_name(width: int) -> str:
    return f"dafl_generator_{width}"


for _width in GENERATOR_WIDTHS:
    register_model(_generator(_width), name=generator_name(_width), kind="generator")


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


# --- parameters ------------------------------------------------------------------------------------------------

ITERATIONS = "steps per epoch"


@dataclass(frozen=True)
class GeneratorParams(Params):
    iterations: int = number(120, ITERATIONS, low=1, integer=True)


@dataclass(frozen=True)
class StudentParams(Params):
    temperature: float = number(10.0, "the KD temperature (RDSKD's student: 10)", low=0.0, low_open=True)
    iterations: int = number(120, ITERATIONS, low=1, integer=True)


WEIGHT = "a DAFL loss weight; a negative one would reward the opposite of what the term asks for"


@dataclass(frozen=True)
class DAFLParams(StudentParams):  # DAFL's MNIST command
    temperature: float = number(1.0, "the KD temperature (DAFL's: 1)", low=0.0, low_open=True)
    one_hot: float = number(1.0, f"w_oh, {WEIGHT}", low=0.0)
    entropy: float = number(5.0, f"w_ie, {WEIGHT}", low=0.0)
    activation: float = number(0.1, f"w_a, {WEIGHT}", low=0.0)
    lr_generator: float = number(0.2, "the generator's Adam learning rate", low=0.0, low_open=True)
    generator_width: int = choice(128, "the generator's width (the codes': 128)", GENERATOR_WIDTHS)


# --- feeds: what each step of a data-free run starts from ---------------------------------------------------------

# The feeds' random streams: a generator run draws its latents from seed + 1, a student's feed from seed + 2 and
# DAFL's generator starts from seed + 3 (the loop's own stream, seed + 1, shuffles and augments real data).
GENERATOR_RUN_SEED, STUDENT_FEED_SEED, DAFL_GENERATOR_SEED = 1, 2, 3


def _latents(batch_size: int, rng: torch.Generator, device) -> torch.Tensor:
    return torch.randn(batch_size, LATENT_DIM, generator=rng).to(device)


class LatentFeed:
    """Gaussian latents z ~ N(0, I) for a generator (``{"latents": z}``); ``iterations`` steps an epoch."""

    def __init__(self, ctx: Context, seed_offset: int):
        self.batch_size, self.steps_per_epoch = ctx.spec.batch_size, ctx.params.iterations
        self.rng, self.device = torch.Generator().manual_seed(ctx.spec.seed + seed_offset), ctx.device

    def sample(self, n: int, rng: torch.Generator) -> torch.Tensor:
        return _latents(n, rng, self.device)

    def next_batch(self) -> dict[str, torch.Tensor]:
        return {"latents": self.sample(self.batch_size, self.rng)}

    def start_epoch(self) -> None:
        return None

    def state_dict(self) -> dict:
        return {"rng": self.rng.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.rng.set_state(state["rng"])


class NoiseFeed(LatentFeed):
    """Images of independent N(0, 1) pixels: the scale of normalised images, nothing of their content."""

    def __init__(self, ctx: Context):
        super().__init__(ctx, STUDENT_FEED_SEED)
        self.image_shape = tuple(ctx.data.image_shape)

    def sample(self, n: int, rng: torch.Generator) -> torch.Tensor:
        return torch.randn(n, *self.image_shape, generator=rng).to(self.device)

    def next_batch(self) -> dict[str, torch.Tensor]:
        return {"images": self.sample(self.batch_size, self.rng)}


class FrozenGeneratorFeed(NoiseFeed):
    """G(z) from a trained generator in evaluation mode (RDSKD's ``generator.eval()``), without gradients."""

    def __init__(self, ctx: Context):
        super().__init__(ctx)
        if ctx.generator is None:
            raise ValueError(f"run {ctx.spec.id} needs its frozen generator (generator=...)")
        self.generator = ctx.generator.to(ctx.device).eval()

    @torch.no_grad()
    def sample(self, n: int, rng: torch.Generator) -> torch.Tensor:
        return self.generator(_latents(n, rng, self.device))


# --- phases: the generators' updates -------------------------------------------------------------------------------

def _fixed_teacher(ctx: Context) -> nn.Module:
    if ctx.teacher is None:
        raise ValueError(f"run {ctx.spec.id} ({ctx.spec.method}) needs its teacher model (teacher=...)")
    return ctx.teacher.to(ctx.device).eval().requires_grad_(False)  # fixed: gradients flow through it to G only


def rdskd_generator_phases(ctx: Context) -> list[Phase]:
    """RDSKD stage 1, a run of its own: the run's model is the generator, updated by Adam at the spec's constant
    learning rate (``_check_generator_run``) on RDSKD's loss against the fixed teacher, ``iterations`` steps an
    epoch."""
    teacher, penalty, generator = _fixed_teacher(ctx), ExponentialPenalty(), ctx.model

    def step(batch):
        images = generator(batch["latents"])
        terms = rdskd_generator_loss(images, teacher(images), penalty)
        penalty.after_step(batch["iteration"], terms)  # the values of this step, whatever the update does next
        return terms
    return [Phase("model", generator, None, step, state=penalty)]


def dafl_phases(ctx: Context) -> list[Phase]:
    """DAFL's generator, updated first at every step on its own loss against the fixed teacher; the images it made
    before that update (detached) are the student's batch, so the student's KD loss never reaches G and this equals
    DAFL's joint update of G and S on one batch. The generator starts from seed + 3, drawn from a forked stream so
    that the student's training (its dropout) draws what it drew before, and is kept with the run
    (``ctx.extras``)."""
    params, teacher = ctx.params, _fixed_teacher(ctx)
    with torch.random.fork_rng(devices=[ctx.device] if ctx.device.type == "cuda" else []):
        torch.manual_seed(ctx.spec.seed + DAFL_GENERATOR_SEED)  # the global stream the loop uses is left untouched
        generator = build_model(generator_name(params.generator_width), ctx.data.image_shape,
                                ctx.data.n_classes).to(ctx.device).train()
    ctx.extras["generator"] = generator
    weights = {"one_hot": params.one_hot, "entropy": params.entropy, "activation": params.activation}

    def step(batch):
        images = generator(batch["latents"])
        batch["images"] = images.detach()
        return dafl_generator_loss(*teacher_outputs(teacher, images), **weights)
    optimizer = torch.optim.Adam(generator.parameters(), lr=params.lr_generator)
    return [Phase("generator", generator, optimizer, step, log="generator", scheduled=False)]


# --- the methods ---------------------------------------------------------------------------------------------------

def _student_kd(student_logits, teacher_logits, temperature):
    """T²·KL(softmax(t/T) ‖ softmax(s/T)), summed over classes and averaged over the batch, as both codes do."""
    kd = kd_divergence(student_logits, teacher_logits, temperature)
    return {"loss": kd, "kd": kd}


def _feed_statistics(images_of):
    """A report: ``sample_statistics`` of what the student learned from, from the fixed draw every source is
    described by."""
    def report(ctx: Context, history: list[dict]) -> dict:
        images = images_of(ctx, STATISTICS_SAMPLES, torch.Generator().manual_seed(STATISTICS_SEED))
        return sample_statistics(images, ctx.teacher)
    return report


def _frozen_images(ctx, n, rng):
    return FrozenGeneratorFeed(ctx).sample(n, rng)


def _noise_images(ctx, n, rng):
    return NoiseFeed(ctx).sample(n, rng)


@torch.no_grad()
def _dafl_images(ctx, n, rng):  # as DAFL's generator made the student's batches: on the draw's own statistics
    return copy.deepcopy(ctx.extras["generator"]).train()(_latents(n, rng, ctx.device))


def _generator_report(ctx: Context, history: list[dict]) -> dict:
    """What a trained generator makes, in evaluation mode, as the student of a later run will see it."""
    ctx.model.eval()
    with torch.no_grad():
        images = ctx.model(_latents(STATISTICS_SAMPLES, torch.Generator().manual_seed(STATISTICS_SEED), ctx.device))
    return {"generator_loss": history[-1]["train_loss"], **sample_statistics(images, ctx.teacher)}


def _check_generator_spec(spec) -> None:
    """A student of a frozen generator: the generator is a generator run against this student's teacher."""
    if get_method(spec.generator.method).model_kind != "generator":
        raise ValueError("generator must be the RunSpec of a generator run (method 'rdskd_generator')")
    if (spec.generator.dataset, spec.generator.teacher) != (spec.dataset, spec.teacher):
        raise ValueError("the generator must have been trained against this student's teacher, on the same "
                         "dataset; give both specs the same teacher")


def _check_generator_run(spec) -> None:
    """RDSKD's code trains its generator with Adam at a constant rate; kdlib does the same and says so."""
    if (spec.optimizer, spec.schedule) != ("adam", "constant"):
        raise ValueError(f"a generator run trains with Adam at a constant learning rate, as RDSKD's code does; set "
                         f"optimizer='adam' and schedule='constant' (got {spec.optimizer!r}, {spec.schedule!r}; on "
                         f"the command line --optimizer adam --schedule constant)")
    if spec.batch_size < 2 or spec.batch_size % 2:
        raise ValueError(f"RDSKD's pairwise diversity term pairs the two halves of each batch, so batch_size must be "
                         f"even and at least 2, got {spec.batch_size}")


@register_method("rdskd", StudentParams, needs_teacher=True, feed=FrozenGeneratorFeed,
                 report=_feed_statistics(_frozen_images), takes_generator=True, check_spec=_check_generator_spec)
def rdskd_student(student_logits, labels, teacher_logits, temperature, iterations):
    """RDSKD's student: KD from the teacher on images of a frozen, pre-trained generator (``RunSpec.generator``)."""
    return _student_kd(student_logits, teacher_logits, temperature)


@register_method("kd_noise", StudentParams, needs_teacher=True, feed=NoiseFeed, report=_feed_statistics(_noise_images))
def noise_student(student_logits, labels, teacher_logits, temperature, iterations):
    """The lower bound: RDSKD's student phase with the generator replaced by Gaussian noise images."""
    return _student_kd(student_logits, teacher_logits, temperature)


@register_method("dafl", DAFLParams, needs_teacher=True, feed=lambda ctx: LatentFeed(ctx, STUDENT_FEED_SEED),
                 phases=dafl_phases, report=_feed_statistics(_dafl_images),
                 extra_models=lambda params: {"generator": generator_name(params.generator_width)})
def dafl_student(student_logits, labels, teacher_logits, temperature, iterations, **generator_settings):
    """DAFL's student: KD at T = 1 on the batch its generator has just been updated on; ``generator_settings``
    (loss weights, learning rate, width) drive that generator (``dafl_phases``), not this loss."""
    return _student_kd(student_logits, teacher_logits, temperature)


register_method("rdskd_generator", GeneratorParams, needs_teacher=True, model_kind="generator",
                feed=lambda ctx: LatentFeed(ctx, GENERATOR_RUN_SEED), phases=rdskd_generator_phases,
                report=_generator_report, check_spec=_check_generator_run)(None)


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
