"""Runs of the teacher-free chapter (Yuan et al. 2020, "Revisiting KD via Label Smoothing Regularization").

The paper's models (MobileNetV2, ShuffleNetV2, ResNet18/50, DenseNet121, ResNeXt29) on CIFAR-100 do not fit a 2-core
CPU. The ``cpu`` profile uses Fashion-MNIST as the stand-in for CIFAR-100 (10 classes, not 100) and three small
models of increasing accuracy: a 784-100-100-10 MLP, LeNet-5 and the book's small CNN. Every model is trained with
the same recipe; every pre-trained teacher is the seed-0 run of its model.

Stage 1 (seed 0, chosen on the validation split carved from the training set, never on the test set): the (α, τ) of
normal KD and of Tf-KD_self, the (α, τ) of Tf-KD_reg and the ε of label smoothing, each on the weakest model. The
official code also reuses one setting across several models (its ``params.json`` files).
Stage 2 (every seed): the rows of the paper's tables at those settings, for every model that plays the role.

``claims`` tests C10–C13 from these records (see its docstring for what each claim rests on).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from kdlib import claims as kc
from kdlib import data
from kdlib.chapters import Knob, best_on_validation, epochs_knob, lr_knob, profile_budget, seeds_knob, subset_knob
from kdlib.runs import RunSpec, get_or_train

KNOBS = {
    "dataset": Knob("name", "the dataset (Fashion-MNIST stands in for CIFAR-100 offline)",
                    options=("fashion_mnist", "cifar100")),
    "seeds": seeds_knob(), "epochs": epochs_knob("epochs of every run"), "subset": subset_knob(), "lr": lr_knob(),
    "epsilons": Knob("floats", "the ε grid of label smoothing", 1e-6, 0.999),
}

_CPU_GRID = dict(kd=((0.1, 0.5, 0.9), (1.0, 4.0, 20.0)), reg=((0.1, 0.5, 0.9), (1.0, 4.0, 20.0)),
                 epsilons=(0.05, 0.1, 0.2, 0.3))
_BUDGETS = {
    "smoke": dict(dataset="fashion_mnist", models=("mlp_2x100", "lenet5", "small_cnn"), seeds=(0,), epochs=1,
                  subset=512, lr=0.05, schedule="warmup_cosine", augment="none", weight_decay=5e-4,
                  kd=((0.9,), (4.0,)), reg=((0.5,), (20.0,)), epsilons=(0.1,), checkpoint_steps=(1, 2),
                  poor_teacher_step=1, control_epochs=(2,), control_lrs=(0.1,)),
    "cpu": dict(dataset="fashion_mnist", models=("mlp_2x100", "lenet5", "small_cnn"), seeds=(0, 1, 2), epochs=8,
                subset=None, lr=0.05, schedule="warmup_cosine", augment="none", weight_decay=5e-4,
                checkpoint_steps=(10, 30, 100, 300, 1000), poor_teacher_step=30, control_epochs=(32,),
                control_lrs=(0.02, 0.1), **_CPU_GRID),
    # the paper's CIFAR-100 recipe (§3.2 of the chapter): 200 epochs, batch 128, lr 0.1 ÷5 at 60/120/160, wd 5e-4;
    # checkpoints after 1 and 50 epochs (352 steps of 128 images each), as in its Table 4
    "paper": dict(dataset="cifar100", models=("small_cnn", "resnet8", "resnet20"), seeds=(0, 1, 2), epochs=200,
                  subset=None, lr=0.1, schedule="step5", augment="crop_flip", weight_decay=5e-4,
                  checkpoint_steps=(352, 3520, 17600), poor_teacher_step=352, control_epochs=(), control_lrs=(),
                  **_CPU_GRID),
}
OFFICIAL_REG = (("alpha", 0.95), ("temperature", 40.0), ("multiplier", 1.0), ("official", 1.0))  # MobileNetV2's
OFFICIAL_LSR = (("epsilon", 0.1), ("official", 1.0))  # the released code's fixed smoothing


def budget(profile) -> dict:
    return profile_budget(_BUDGETS, profile, (CHAPTER,))


def datasets(profile: str) -> tuple[str, ...]:
    """Every dataset the chapter's runs read (the CLI checks them all before the first run)."""
    return (budget(profile)["dataset"],)


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


def control_runs(profile: str, train_missing: bool = True, device=None) -> dict[str, dict[str, list[RunSpec]]]:
    """The KD control study (``kdlib.claims.control_table``), every seed, read on validation: why normal KD from
    the trained middle model barely helps the weakest here. KD runs at the (α, τ) chosen on validation, in the book's
    term and in the released code's (its KL averaged over batch × classes: the book's term times 1/K). Each arm
    changes one thing and keeps the rest: the budget (student, teacher and KD all trained ``control_epochs``) or the
    learning rate (the teacher kept)."""
    b = budget(profile)
    weak, middle, _ = b["models"]
    params = dict(chosen(profile, train_missing, device)["normal KD"].method_params)
    code_params = {**params, "scale": 1.0 / data.n_classes(b["dataset"])}

    def arm(by: RunSpec, **changes) -> dict[str, RunSpec]:
        def kd(values):
            return model_run(profile, weak, method="kd", teacher=by, method_params=tuple(values.items()), **changes)
        return {"student alone": model_run(profile, weak, **changes), "teacher alone": by,
                "KD, book's term": kd(params), "KD, code's term": kd(code_params)}

    arms = {"the chapter's setting": arm(teacher(profile, middle))}
    for epochs in b["control_epochs"]:
        arms[f"{epochs} epochs"] = arm(teacher(profile, middle).replace(epochs=epochs), epochs=epochs)
    for lr in b["control_lrs"]:
        arms[f"lr {lr:g}"] = arm(teacher(profile, middle), lr=lr)
    return {name: {row: [spec.replace(seed=seed) for seed in b["seeds"]] for row, spec in rows.items()}
            for name, rows in arms.items()}


def stage_one(profile: str) -> list[RunSpec]:
    """Teachers (full runs and checkpoints) first, then the settings grids."""
    b = budget(profile)
    weak, middle, strong = b["models"]
    first = [teacher(profile, model) for model in b["models"]]
    first += [teacher(profile, middle).replace(epochs=epochs) for epochs in b["control_epochs"]]
    first += [poor_teacher(profile, strong)] + [poor_teacher(profile, middle, s) for s in b["checkpoint_steps"]]
    return first + [spec for specs in grids(profile).values() for spec in specs.values()]


def stages(profile: str, device=None) -> list:
    """Teachers and grids, then every table row (which reads the grids' choice on validation)."""
    return [lambda: stage_one(profile),
            lambda: [spec for row in table_rows(profile, False, device) for spec in row.specs]
            + [spec for arm in control_runs(profile, False, device).values() for specs in arm.values()
               for spec in specs]]


def results(profile: str, train_missing: bool = True, device=None) -> dict:
    """Every record the chapter shows, trained first where missing (and ``train_missing``)."""
    b = budget(profile)
    return {"profile": profile,
            "teachers": {model: record(teacher(profile, model), train_missing, device) for model in b["models"]},
            "grids": {family: {key: record(spec, train_missing, device) for key, spec in specs.items()}
                      for family, specs in grids(profile).items()},
            "chosen": chosen(profile, train_missing, device),
            "checkpoints": {step: record(poor_teacher(profile, b["models"][1], step), train_missing, device)
                            for step in b["checkpoint_steps"]},
            "poor_teacher": record(poor_teacher(profile, b["models"][2]), train_missing, device),
            "rows": [(row, [record(spec, train_missing, device) for spec in row.specs])
                     for row in table_rows(profile, train_missing, device)],
            "controls": {name: {row: [record(spec, train_missing, device) for spec in specs]
                                for row, specs in arm.items()}
                         for name, arm in control_runs(profile, train_missing, device).items()}}


# ---------------------------------------------------------------------------------------------------------------
# The claims (C10–C13)

CHAPTER = "teacher_free"
DATASET_NAMES = {"fashion_mnist": "Fashion-MNIST (stand-in for CIFAR-100)", "cifar100": "CIFAR-100"}
MODEL_NAMES = {"mlp_2x100": "MLP", "lenet5": "LeNet-5", "small_cnn": "small CNN", "resnet8": "ResNet-8",
               "resnet20": "ResNet-20"}
MODEL_DESCRIPTIONS = {"mlp_2x100": "MLP 784-100-100-10"}
# §3.2 of the paper: 200 epochs of CIFAR-100's 50,000 training images at batch 128 (391 batches an epoch)
PAPER_STEPS = 200 * math.ceil(50_000 / 128)
# "matches normal KD" holds within ±0.5 points: the paper calls the two comparable at gaps of up to 0.38 points
# (Tables 5 and 9, CIFAR-100), so half a point is the closest reading of its "match" that three seeds can test
MATCH_MARGIN = 0.5
# a teacher is trained when its validation accuracy is at least 1.5 × chance (the line ``report.collapsed`` draws);
# a checkpoint below it predicts a near-uniform distribution, and distilling from it is label smoothing (C12)
TRAINED_FACTOR = 1.5
# a De-KD teacher is poorly trained when it errs at least 1.5 times as often as the student alone: every row of the
# paper's Table 4 (CIFAR-100) does, from 1.5× (ResNeXt29 at 51.94 % teaching MobileNetV2) to 2.9×
POOR_ERROR_RATIO = 1.5
IDENTITY_TOLERANCE = 1e-9  # double precision: C12's identities hold to rounding


def model_name(model: str) -> str:
    return MODEL_NAMES.get(model, model)


def records_by_row(results: dict) -> dict[tuple[str, str, str], tuple[Row, list[dict]]]:
    return {(row.method, row.model, row.teacher): (row, records) for row, records in results["rows"]}


def _of(rows: dict, method: str, model: str, teacher: str | None = None) -> list[dict]:
    """The records of one table row (the first match when ``teacher`` is None)."""
    for (m, mod, t), (_, records) in rows.items():
        if m == method and mod == model and (teacher is None or t == teacher):
            return records
    raise KeyError((method, model, teacher))


def _percent(record: dict, metric: str = "val_acc") -> float:
    value = record["metrics"].get(metric)
    return math.nan if value is None else 100.0 * value


def _mean_percent(records: list[dict], metric: str = "val_acc") -> float:
    values = kc.points(records, metric)
    return float(np.nanmean(values)) if np.isfinite(values).any() else math.nan


def chance(profile: str) -> float:
    """Chance accuracy (%) of the chapter's dataset."""
    return 100.0 / data.n_classes(budget(profile)["dataset"])


def trained(label: str, record: dict, profile: str) -> kc.Precondition:
    """The teacher ``record`` learned something: validation accuracy at least ``TRAINED_FACTOR`` × chance."""
    line = TRAINED_FACTOR * chance(profile)
    value = _percent(record)
    return kc.Precondition(f"{label} is trained (validation accuracy ≥ {TRAINED_FACTOR:g} × chance = {line:.0f} %)",
                           bool(value >= line), f"{label}: {value:.1f} % on validation")


def kd_works(rows: dict, student: str, teacher_model: str) -> kc.Precondition:
    """Normal KD from the fully trained ``teacher_model`` beats ``student`` trained alone (a positive control)."""
    label = f"normal KD [{model_name(teacher_model)}] − {model_name(student)} alone"
    return kc.control(f"normal KD from the trained {model_name(teacher_model)} beats {model_name(student)} alone",
                      kc.compare(label, _of(rows, "normal KD", student, teacher_model), _of(rows, "baseline", student)))


def identity_gaps(n_classes: int = 10, alphas=(0.1, 0.5, 0.9), seed: int = 0) -> dict[str, float]:
    """C12 on a fixed random batch in double precision (τ = 1): the largest gap between KD's loss and
    H((1 − α)q + α·pᵗ, p) − α·H(pᵗ), between KD with a uniform teacher and LSR (ε = α), and between their
    gradients."""
    import torch
    import torch.nn.functional as F

    from kdlib.methods.teacher_free import smoothed_cross_entropy
    from kdlib.methods import get_method, resolve_params

    generator = torch.Generator().manual_seed(seed)
    student_logits = torch.randn(64, n_classes, generator=generator, dtype=torch.float64) * 3
    teacher_logits = torch.randn(64, n_classes, generator=generator, dtype=torch.float64) * 3
    labels = torch.randint(0, n_classes, (64,), generator=generator)
    kd = get_method("kd").loss
    gaps = {"KD as smoothed-label cross-entropy": 0.0, "KD with a uniform teacher − LSR": 0.0, "gradients": 0.0}
    for alpha in alphas:
        student = student_logits.clone().requires_grad_(True)
        p_t = F.softmax(teacher_logits, dim=1)
        loss = kd(student, labels, teacher_logits, temperature=1.0, alpha=alpha)["loss"]
        smoothed = smoothed_cross_entropy(student, (1 - alpha) * F.one_hot(labels, n_classes).double() + alpha * p_t)
        entropy = -(p_t * p_t.log()).sum(1).mean()
        uniform = kd(student, labels, torch.zeros_like(teacher_logits), temperature=1.0, alpha=alpha)["loss"]
        lsr = get_method("lsr").loss(student, labels, **resolve_params("lsr", {"epsilon": alpha}))["loss"]
        (g_uniform,) = torch.autograd.grad(uniform, student, retain_graph=True)
        (g_lsr,) = torch.autograd.grad(lsr, student)
        gaps["KD as smoothed-label cross-entropy"] = max(gaps["KD as smoothed-label cross-entropy"],
                                                         abs((loss - (smoothed - alpha * entropy)).item()))
        gaps["KD with a uniform teacher − LSR"] = max(gaps["KD with a uniform teacher − LSR"],
                                                      abs((uniform - lsr).item()))
        gaps["gradients"] = max(gaps["gradients"], (g_uniform - g_lsr).abs().max().item())
    return gaps


def de_kd_teachers(results: dict) -> list[dict]:
    """Every De-KD row (the poorly trained teacher and the checkpoint curve) with its teacher's record and the role
    it can play in C11: "poorly trained" (above chance, erring at least ``POOR_ERROR_RATIO`` × as often as the
    student alone, both on validation), "chance level" (a near-uniform teacher: label smoothing, not De-KD) or
    "not poorly trained" (too close to the student)."""
    profile = results["profile"]
    rows = records_by_row(results)
    candidates = {record["id"]: record for record in [results["poor_teacher"], *results["checkpoints"].values()]}
    line = TRAINED_FACTOR * chance(profile)
    out = []
    for row, records in results["rows"]:
        if row.method not in ("De-KD", "De-KD curve"):
            continue
        teacher_spec = row.specs[0].teacher
        teacher_record = candidates[teacher_spec.id]
        teacher_acc = _percent(teacher_record)
        student_acc = _mean_percent(_of(rows, "baseline", row.model))
        if not teacher_acc >= line:
            role = "chance level"
        elif 100 - teacher_acc >= POOR_ERROR_RATIO * (100 - student_acc):
            role = "poorly trained"
        else:
            role = "not poorly trained"
        out.append({"row": row, "records": records, "teacher": teacher_record, "teacher model": teacher_spec.model,
                    "step": teacher_spec.stop_step, "teacher val acc (%)": teacher_acc,
                    "student alone, val acc (%)": student_acc, "role": role})
    return out


def claims(results: dict) -> list[kc.Claim]:
    """C10–C13 at ``results["profile"]``, with Holm's correction within the chapter.

    - C10 (Re-KD) and C11 (De-KD) rest on KD: each needs normal KD from the fully trained teacher model to beat the
      student alone in that pair, and the teacher to be trained. C10 also needs its teacher to be the weaker model.
      C11 counts only teachers that are poorly trained but above chance (``de_kd_teachers``).
    - C12 is a derivation, checked numerically (``identity_gaps``).
    - C13: Tf-KD_self against the model alone (its own copy must be trained); Tf-KD_self and Tf-KD_reg "match"
      normal KD from the strongest model within ``MATCH_MARGIN`` (TOST), which needs that KD to beat the model
      alone; Tf-KD_reg against LSR.
    """
    profile = results["profile"]
    b = budget(profile)
    weak, middle, strong = b["models"]
    rows = records_by_row(results)
    baseline = _of(rows, "baseline", weak)
    steps = max((record["history"][-1]["step"] for record in baseline if record.get("history")), default=None)
    batch = baseline[0]["spec"]["batch_size"]
    budget_text = (f"{b['epochs']} epochs, {steps:,} steps at batch {batch} (paper: 200 epochs, {PAPER_STEPS:,} steps "
                   f"at batch 128)" if steps else f"{b['epochs']} epochs (paper: 200)")
    share = steps / PAPER_STEPS if steps else None
    dataset = DATASET_NAMES.get(b["dataset"], b["dataset"])

    def setting(models) -> kc.Setting:
        return kc.Setting(dataset, ", ".join(MODEL_DESCRIPTIONS.get(m, model_name(m)) for m in models), budget_text,
                          share)

    def claim(claim_id, statement, paper, models, comparisons, preconditions=(), expect="higher", **extra):
        return kc.Claim(claim_id, CHAPTER, statement, paper, setting(models), expect, tuple(comparisons),
                        tuple(preconditions), **extra)

    found = []
    # C10: Re-KD
    comparisons, preconditions = [], []
    for stronger, weaker in pairs(profile):
        s, w = model_name(stronger), model_name(weaker)
        comparisons.append(kc.compare(f"Re-KD [{w}] − {s} alone", _of(rows, "Re-KD", stronger, weaker),
                                      _of(rows, "baseline", stronger)))
        preconditions.append(kc.control(f"{s} alone beats {w} alone (the teacher is the weaker model)",
                                        kc.compare(f"{s} alone − {w} alone", _of(rows, "baseline", stronger),
                                                   _of(rows, "baseline", weaker))))
        preconditions.append(kd_works(rows, weaker, stronger))
        preconditions.append(trained(f"the {w} teacher", results["teachers"][weaker], profile))
    found.append(claim("C10", "Re-KD: the weaker model, as teacher, improves the stronger one",
                       "CIFAR-100 (Table 1): MobileNetV2 and ShuffleNetV2 teach ResNet18/50, DenseNet121, ResNeXt29",
                       b["models"], comparisons, preconditions))

    # C11: De-KD, with chance-level and not-so-poor teachers kept apart
    teachers = de_kd_teachers(results)
    poor = [t for t in teachers if t["role"] == "poorly trained"]
    comparisons, preconditions, seen = [], [], set()
    for t in poor or teachers:
        row, teacher_model = t["row"], model_name(t["teacher model"])
        comparisons.append(kc.compare(
            f"De-KD [{teacher_model} after {t['step']} steps, {t['teacher val acc (%)']:.1f} %] − "
            f"{model_name(row.model)} alone", t["records"], _of(rows, "baseline", row.model)))
        if (row.model, t["teacher model"]) not in seen:
            seen.add((row.model, t["teacher model"]))
            preconditions.append(kd_works(rows, row.model, t["teacher model"]))
    if not poor:
        preconditions.append(kc.Precondition(
            "a teacher is poorly trained but above chance", False,
            "every De-KD teacher is at chance level or errs less than "
            f"{POOR_ERROR_RATIO:g} × as often as its student"))
    excluded = [t for t in teachers if t["role"] != "poorly trained"] if poor else []
    found.append(claim("C11", f"De-KD: a poorly trained teacher (above chance, erring ≥ {POOR_ERROR_RATIO:g} × as "
                              "often as the student) improves the student",
                       "CIFAR-100 (Table 4): ResNet18 after 1 epoch, ResNet50 and ResNeXt29 after 50 epochs teach "
                       "MobileNetV2, ShuffleNetV2, ResNet18", sorted({t["row"].model for t in poor or teachers},
                                                                     key=b["models"].index),
                       comparisons, preconditions,
                       extra={"excluded": [(f"{model_name(t['teacher model'])} after {t['step']} steps "
                                            f"({t['teacher val acc (%)']:.1f} % on validation) → "
                                            f"{model_name(t['row'].model)}", t["role"]) for t in excluded]}))

    # C12: a derivation, checked numerically
    gaps = identity_gaps(data.n_classes(b["dataset"]))
    found.append(kc.Claim(
        "C12", CHAPTER, "KD is label smoothing with the teacher's distribution; LSR is KD with a uniform teacher",
        "Eq. 3 and 4 (any dataset)",
        kc.Setting(f"none: an identity of the losses (checked at K = {data.n_classes(b['dataset'])} classes)", "–",
                   "–"),
        basis="derivation", holds=max(gaps.values()) < IDENTITY_TOLERANCE,
        note="(1 − α)·H(q, p) + α·KL(pᵗ ‖ p) = H((1 − α)q + α·pᵗ, p) − α·H(pᵗ), and with a uniform teacher KD is "
             "LSR at ε = α, gradients included; checked in double precision on a fixed random batch, largest gap "
             f"{max(gaps.values()):.1e} (tolerance {IDENTITY_TOLERANCE:g})"))

    # C13: teacher-free KD
    models = (weak, middle)
    paper_self = "CIFAR-100 (Table 5): six models from MobileNetV2 to ResNeXt29, each taught by its own copy"
    paper_reg = "CIFAR-100 (Table 9): MobileNetV2, ShuffleNetV2, ResNet18, GoogLeNet"
    found.append(claim(
        "C13", "Tf-KD_self improves on the model trained alone", paper_self, models,
        [kc.compare(f"Tf-KD_self − {model_name(m)} alone", _of(rows, "Tf-KD_self", m), _of(rows, "baseline", m))
         for m in models],
        [trained(f"{model_name(m)}'s own pre-trained copy", results["teachers"][m], profile) for m in models]))
    for method, paper in (("Tf-KD_self", paper_self), ("Tf-KD_reg", paper_reg)):
        preconditions = [kd_works(rows, m, strong) for m in models]
        if method == "Tf-KD_self":
            preconditions += [trained(f"{model_name(m)}'s own pre-trained copy", results["teachers"][m], profile)
                              for m in models]
        found.append(claim(
            "C13", f"{method} matches normal KD from the {model_name(strong)}", paper, models,
            [kc.compare(f"{method} − normal KD [{model_name(strong)}] ({model_name(m)})", _of(rows, method, m),
                        _of(rows, "normal KD", m, strong), margin=MATCH_MARGIN) for m in models],
            preconditions, expect="matches"))
    found.append(claim(
        "C13", "Tf-KD_reg beats label smoothing (LSR)", paper_reg, models,
        [kc.compare(f"Tf-KD_reg − LSR ({model_name(m)})", _of(rows, "Tf-KD_reg", m), _of(rows, "LSR", m))
         for m in models]))
    return kc.adjust(found)
