"""Runs of the teacher-free chapter (Yuan et al. 2020, "Revisiting KD via Label Smoothing Regularization").

The paper's models (MobileNetV2, ShuffleNetV2, ResNet18/50, DenseNet121, ResNeXt29) on CIFAR-100 do not fit a 2-core
CPU. The ``cpu`` profile uses Fashion-MNIST as the stand-in for CIFAR-100 (10 classes, not 100) and three small
models of increasing accuracy: a 784-100-100-10 MLP, LeNet-5 and the book's small CNN. Every model is trained with
the same recipe; every pre-trained teacher is the seed-0 run of its model.

Stage 1 (seed 0, chosen on the validation split carved from the training set, never on the test set): the (α, τ) of
normal KD and of Tf-KD_self, the (α, τ) of Tf-KD_reg and the ε of label smoothing, each on the weakest model. The
official code also reuses one setting across several models (its ``params.json`` files).
Stage 2 (every seed): the rows of the paper's tables at those settings, for every model that plays the role.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from kdlib.chapters import best_on_validation, forward_and_backward, profile_budget
from kdlib.runs import RunSpec, get_or_train

PARAMETERS = {"profile": ("smoke", "cpu", "paper"), "train_missing": (True, False), "device": (None, "cpu", "cuda")}

_CPU_GRID = dict(kd=((0.1, 0.5, 0.9), (1.0, 4.0, 20.0)), reg=((0.1, 0.5, 0.9), (1.0, 4.0, 20.0)),
                 epsilons=(0.05, 0.1, 0.2, 0.3))
_BUDGETS = {
    "smoke": dict(dataset="fashion_mnist", models=("mlp_2x100", "lenet5", "small_cnn"), seeds=(0,), epochs=1,
                  subset=512, lr=0.05, schedule="warmup_cosine", augment="none", weight_decay=5e-4,
                  kd=((0.9,), (4.0,)), reg=((0.5,), (20.0,)), epsilons=(0.1,), checkpoint_steps=(1, 2),
                  poor_teacher_step=1),
    "cpu": dict(dataset="fashion_mnist", models=("mlp_2x100", "lenet5", "small_cnn"), seeds=(0, 1, 2), epochs=8,
                subset=None, lr=0.05, schedule="warmup_cosine", augment="none", weight_decay=5e-4,
                checkpoint_steps=(10, 30, 100, 300, 1000), poor_teacher_step=30, **_CPU_GRID),
    # the paper's CIFAR-100 recipe (§3.2 of the chapter): 200 epochs, batch 128, lr 0.1 ÷5 at 60/120/160, wd 5e-4;
    # checkpoints after 1 and 50 epochs (352 steps of 128 images each), as in its Table 4
    "paper": dict(dataset="cifar100", models=("small_cnn", "resnet8", "resnet20"), seeds=(0, 1, 2), epochs=200,
                  subset=None, lr=0.1, schedule="step5", augment="crop_flip", weight_decay=5e-4,
                  checkpoint_steps=(352, 3520, 17600), poor_teacher_step=352, **_CPU_GRID),
}
OFFICIAL_REG = (("alpha", 0.95), ("temperature", 40.0), ("multiplier", 1.0), ("official", 1.0))  # MobileNetV2's
OFFICIAL_LSR = (("epsilon", 0.1), ("official", 1.0))  # the released code's fixed smoothing


def budget(profile: str) -> dict:
    return profile_budget(_BUDGETS, profile)


def model_run(profile: str, model: str, **changes) -> RunSpec:
    """``model`` trained on labels, seed 0, with the chapter's recipe; ``changes`` make it a variant."""
    b = budget(profile)
    return RunSpec(b["dataset"], model, epochs=b["epochs"], lr=b["lr"], schedule=b["schedule"], augment=b["augment"],
                   weight_decay=b["weight_decay"], subset=b["subset"]).replace(**changes)


def teacher(profile: str, model: str) -> RunSpec:
    """The pre-trained copy of ``model`` that teaches in every row: its seed-0 run on labels."""
    return model_run(profile, model)


def poor_teacher(profile: str, model: str, step: int | None = None) -> RunSpec:
    """``model``'s seed-0 run stopped after ``step`` optimiser steps: a checkpoint of the full run."""
    return teacher(profile, model).replace(stop_step=step or budget(profile)["poor_teacher_step"])


def pairs(profile: str) -> list[tuple[str, str]]:
    """(stronger, weaker) model pairs: normal KD teaches the weaker, Re-KD the stronger."""
    weak, middle, strong = budget(profile)["models"]
    return [(middle, weak), (strong, weak), (strong, middle)]


def grids(profile: str) -> dict[str, dict[tuple, RunSpec]]:
    """Stage 1: each family's settings on the weakest model, seed 0."""
    b = budget(profile)
    weak, middle, _ = b["models"]
    alphas, temperatures = b["kd"]
    reg_alphas, reg_temperatures = b["reg"]

    def kd(by: str, alpha: float, tau: float) -> RunSpec:
        return model_run(profile, weak, method="kd", teacher=teacher(profile, by),
                         method_params=(("alpha", alpha), ("temperature", tau)))

    return {"normal KD": {(a, t): kd(middle, a, t) for a in alphas for t in temperatures},
            "Tf-KD_self": {(a, t): kd(weak, a, t) for a in alphas for t in temperatures},
            "Tf-KD_reg": {(a, t): model_run(profile, weak, method="tf_reg",
                                            method_params=(("alpha", a), ("temperature", t), ("a", 0.99)))
                          for a in reg_alphas for t in reg_temperatures},
            "LSR": {(e,): model_run(profile, weak, method="lsr", method_params=(("epsilon", e),))
                    for e in b["epsilons"]}}


def record(spec: RunSpec, train_missing: bool = True, device=None) -> dict:
    return get_or_train(spec, train_missing, device, "line", keep_divergence=True)


def chosen(profile: str, train_missing: bool = True, device=None) -> dict[str, RunSpec]:
    """Per family, the stage-1 run with the highest final validation accuracy (ties: the first in grid order)."""
    best = {}
    for family, specs in grids(profile).items():
        best[family] = specs[best_on_validation({key: record(spec, train_missing, device)["metrics"]["val_acc"]
                                                 for key, spec in specs.items()})]
    return best


@dataclass(frozen=True)
class Row:
    """One line of a table: ``method`` trains ``model``, taught by ``teacher`` (a label, or "–"); one spec per seed."""

    method: str
    model: str
    teacher: str
    specs: tuple[RunSpec, ...]


def table_rows(profile: str, train_missing: bool = True, device=None) -> list[Row]:
    """Stage 2: every row of the chapter's tables, every seed."""
    b = budget(profile)
    weak, middle, strong = b["models"]
    best = chosen(profile, train_missing, device)
    kd_params = best["normal KD"].method_params
    self_params = best["Tf-KD_self"].method_params

    def row(method, model, teacher_label, spec):
        return Row(method, model, teacher_label, tuple(spec.replace(seed=seed) for seed in b["seeds"]))

    def taught(model, by: RunSpec, params):
        return model_run(profile, model, method="kd", teacher=by, method_params=params)

    rows = [row("baseline", model, "–", model_run(profile, model)) for model in b["models"]]
    for stronger, weaker in pairs(profile):
        rows.append(row("normal KD", weaker, stronger, taught(weaker, teacher(profile, stronger), kd_params)))
        rows.append(row("Re-KD", stronger, weaker, taught(stronger, teacher(profile, weaker), kd_params)))
    for model in (weak, middle):
        rows.append(row("Tf-KD_self", model, model, taught(model, teacher(profile, model), self_params)))
        rows.append(row("Tf-KD_reg", model, "virtual", model_run(profile, model, method="tf_reg",
                                                                  method_params=best["Tf-KD_reg"].method_params)))
        rows.append(row("LSR", model, "uniform", model_run(profile, model, method="lsr",
                                                           method_params=best["LSR"].method_params)))
    rows.append(row("Tf-KD_reg, released code", weak, "virtual",
                    model_run(profile, weak, method="tf_reg", method_params=OFFICIAL_REG)))
    rows.append(row("LSR, released code", weak, "uniform",
                    model_run(profile, weak, method="lsr", method_params=OFFICIAL_LSR)))
    for model in (weak, middle):
        poor = poor_teacher(profile, strong)
        rows.append(row("De-KD", model, f"{strong} after {poor.stop_step} steps", taught(model, poor, kd_params)))
    for step in b["checkpoint_steps"]:
        rows.append(row("De-KD curve", weak, f"{middle} after {step} steps",
                        taught(weak, poor_teacher(profile, middle, step), kd_params)))
    return rows


def stage_one(profile: str) -> list[RunSpec]:
    """Teachers (full runs and checkpoints) first, then the settings grids."""
    b = budget(profile)
    weak, middle, strong = b["models"]
    first = [teacher(profile, model) for model in b["models"]]
    first += [poor_teacher(profile, strong)] + [poor_teacher(profile, middle, s) for s in b["checkpoint_steps"]]
    return first + [spec for specs in grids(profile).values() for spec in specs.values()]


def runs(profile: str, device=None) -> dict[str, Iterator[RunSpec]]:
    """Teachers and grids first, then every table row (which needs the grids' choice)."""
    return forward_and_backward([lambda: stage_one(profile),
                                 lambda: [spec for row in table_rows(profile, True, device) for spec in row.specs]])


def results(profile: str, train_missing: bool = True, device=None) -> dict:
    """Every record the chapter shows, trained first where missing (and ``train_missing``)."""
    b = budget(profile)
    return {"teachers": {model: record(teacher(profile, model), train_missing, device) for model in b["models"]},
            "grids": {family: {key: record(spec, train_missing, device) for key, spec in specs.items()}
                      for family, specs in grids(profile).items()},
            "chosen": chosen(profile, train_missing, device),
            "checkpoints": {step: record(poor_teacher(profile, b["models"][1], step), train_missing, device)
                            for step in b["checkpoint_steps"]},
            "poor_teacher": record(poor_teacher(profile, b["models"][2]), train_missing, device),
            "rows": [(row, [record(spec, train_missing, device) for spec in row.specs])
                     for row in table_rows(profile, train_missing, device)]}
