"""Runs of the self-distillation chapter (Zhang et al. 2019, "Be Your Own Teacher"; TPAMI 2021).

The papers train ResNets of 18 to 152 layers on CIFAR-100 for 200-250 epochs: hours per run on a GPU, days here.
The ``cpu`` profile keeps the design and shrinks the scale: Fashion-MNIST as the stand-in for CIFAR-100 (10 classes,
not 100), a narrow four-stage ResNet-10 (one basic block per stage, widths 16-32-64-128) in place of ResNet-18,
8,000 training images (a fixed draw), 5 epochs. The loss weights are the official journal code's (α = 0.3, T = 3,
λ = 0.03), not tuned: the paper's own values were not found. Every one of those choices is stated in the chapter.

Rows (every seed): the plain network; self-distillation with the ICCV exits (bottleneck branches) and the TPAMI
exits (attention + SepConv branches), each with and without the feature hint; deep supervision (the ICCV exits on
labels alone, α = λ = 0); each exit's path trained alone (C15's "small networks of the same cost"); and each exit's
path distilled from the plain network (seed 0): the two-stage procedure of C16.
"""

from __future__ import annotations

from typing import Iterator

from kdlib.chapters import forward_and_backward, profile_budget
from kdlib.runs import RunSpec, get_or_train

PARAMETERS = {"profile": ("smoke", "cpu", "paper"), "train_missing": (True, False), "device": (None, "cpu", "cuda")}

_BUDGETS = {
    "smoke": dict(dataset="fashion_mnist", backbone="resnet10_narrow", seeds=(0,), epochs=1, subset=512, lr=0.1,
                  schedule="warmup_cosine", augment="none"),
    "cpu": dict(dataset="fashion_mnist", backbone="resnet10_narrow", seeds=(0, 1, 2), epochs=5, subset=8_000,
                lr=0.1, schedule="warmup_cosine", augment="none"),
    # the official journal code's CIFAR-100 recipe: ResNet-18, 250 epochs, lr 0.1 ÷10 at 83/166/240, batch 128,
    # wd 5e-4; its AutoAugment + Cutout are replaced by crop + flip (kdlib has no AutoAugment)
    "paper": dict(dataset="cifar100", backbone="resnet18", seeds=(0, 1, 2), epochs=250, subset=None, lr=0.1,
                  schedule="thirds", augment="crop_flip"),
}
NO_HINT = (("lam", 0.0),)
DEEP_SUPERVISION = (("alpha", 0.0), ("lam", 0.0))
KD_PARAMS = (("alpha", 0.3), ("temperature", 3.0))  # two-stage KD at the self-distillation weights
SHALLOW_EXITS = (1, 2, 3)


def budget(profile: str) -> dict:
    return profile_budget(_BUDGETS, profile)


def model_run(profile: str, model: str, **changes) -> RunSpec:
    """``model`` (a registered name) with the chapter's recipe, seed 0; ``changes`` make it a variant."""
    b = budget(profile)
    settings = dict(epochs=b["epochs"], lr=b["lr"], schedule=b["schedule"], augment=b["augment"], subset=b["subset"])
    return RunSpec(b["dataset"], model, **{**settings, **changes})


def plain(profile: str) -> RunSpec:
    """The backbone alone (seed 0): the baseline, and the teacher of the two-stage rows."""
    return model_run(profile, budget(profile)["backbone"])


def self_distilled(profile: str, variant: str, params: tuple = ()) -> RunSpec:
    return model_run(profile, f"{budget(profile)['backbone']}_sd_{variant}", method="self_distillation",
                     method_params=params)


def exit_alone(profile: str, k: int, method: str = "ce") -> RunSpec:
    """Exit k's path (stem, stages 1..k, its ICCV branch and classifier) as a network of its own: on labels
    (``ce``), or distilled from the plain network (``kd``)."""
    model = f"{budget(profile)['backbone']}_exit{k}_iccv"
    if method == "kd":
        return model_run(profile, model, method="kd", teacher=plain(profile), method_params=KD_PARAMS)
    return model_run(profile, model)


def table_runs(profile: str) -> dict[str, list[RunSpec]]:
    """Every row, one spec per seed."""
    rows = {
        "plain network": plain(profile),
        "SD, ICCV exits": self_distilled(profile, "iccv"),
        "SD, ICCV exits, no hint": self_distilled(profile, "iccv", NO_HINT),
        "SD, TPAMI exits": self_distilled(profile, "tpami"),
        "SD, TPAMI exits, no hint": self_distilled(profile, "tpami", NO_HINT),
        "deep supervision (ICCV exits)": self_distilled(profile, "iccv", DEEP_SUPERVISION),
        **{f"exit {k} path alone": exit_alone(profile, k) for k in SHALLOW_EXITS},
        **{f"exit {k} path, KD from the plain network": exit_alone(profile, k, "kd") for k in SHALLOW_EXITS},
    }
    return {label: [spec.replace(seed=seed) for seed in budget(profile)["seeds"]] for label, spec in rows.items()}


def runs(profile: str, device=None) -> dict[str, Iterator[RunSpec]]:
    """The plain network first (it teaches the two-stage rows), then every row."""
    return forward_and_backward([lambda: [plain(profile)],
                                 lambda: [spec for specs in table_runs(profile).values() for spec in specs]])


def results(profile: str, train_missing: bool = True, device=None) -> dict[str, list[dict]]:
    return {label: [get_or_train(spec, train_missing, device, "line") for spec in specs]
            for label, specs in table_runs(profile).items()}
