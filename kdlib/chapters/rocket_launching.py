"""Runs of the Rocket Launching chapter (Zhou et al. 2018): a light net and a booster trained together.

The paper's pairs (WRN-16-1 light / WRN-40-1 booster, 200 epochs on CIFAR-10) cost hours per run on a 2-core CPU.
The ``cpu`` profile keeps the design and shrinks the scale: Fashion-MNIST as the stand-in for CIFAR-10, a WRN-10-1
light net and a WRN-16-1 booster (one and two blocks per group, where the paper's pair has two and six),
5,000 training images (a fixed random draw), 6 epochs. Every one of those choices is the book's, stated in the chapter.

Stage 1 (seed 0, chosen on the validation split): the hint weight λ for each hint loss, on the interval scheme.
Stage 2 (every seed): the rows of the paper's Tables 1-3 at those weights.

``claims`` turns the records into the chapter's claims C6-C9, one per setting, with their preconditions.
"""

from __future__ import annotations

import math

from kdlib.chapters import Knob, best_on_validation, epochs_knob, lr_knob, profile_budget, seeds_knob, subset_knob
from kdlib.claims import TIME_METRIC, Claim, Setting, adjust, compare, control, time_sesoi, timed, training_seconds
from kdlib.runs import RunSpec, get_or_train

KNOBS = {
    "dataset": Knob("name", "the dataset (Fashion-MNIST stands in for CIFAR-10 offline)",
                    options=("fashion_mnist", "cifar10")),
    "seeds": seeds_knob(), "epochs": epochs_knob("epochs of every run"), "subset": subset_knob(), "lr": lr_knob(),
}

_LAMBDAS = {"mimic": (0.003, 0.03, 0.3), "mse": (0.3, 3.0, 30.0), "kd": (0.1, 1.0, 10.0)}
_BUDGETS = {
    "smoke": dict(dataset="fashion_mnist", pair=(10, 16, 1), seeds=(0,), epochs=1, subset=512, lr=0.1,
                  schedule="warmup_cosine", augment="none", lambdas={"mimic": (0.03,), "mse": (3.0,), "kd": (1.0,)},
                  control_epochs=(2,), control_lrs=(0.03,), control_alphas=(0.5,)),
    "cpu": dict(dataset="fashion_mnist", pair=(10, 16, 1), seeds=(0, 1, 2), epochs=6, subset=5_000, lr=0.1,
                schedule="warmup_cosine", augment="none", lambdas=_LAMBDAS,
                control_epochs=(24,), control_lrs=(0.03, 0.3), control_alphas=(0.1, 0.5)),
    # the paper's CIFAR-10 recipe: 200 epochs, lr 0.1 ×0.2 at 60/120/160, crop + flip, WRN-16-1 / WRN-40-1
    "paper": dict(dataset="cifar10", pair=(16, 40, 1), seeds=(0, 1, 2), epochs=200, subset=None, lr=0.1,
                  schedule="step5", augment="crop_flip", lambdas=_LAMBDAS,
                  control_epochs=(), control_lrs=(), control_alphas=()),
}
KD_PARAMS = (("alpha", 0.9), ("temperature", 4.0))  # the official code's KD baseline settings
# The same settings in the official code's own KD term: its KL is averaged over batch × classes and carries a factor
# 2, i.e. kdlib's term times 2/K (K = 10 classes on every dataset of this chapter)
CODE_KD_PARAMS = KD_PARAMS + (("scale", 2 / 10),)


def budget(profile) -> dict:
    return profile_budget(_BUDGETS, profile, (CHAPTER,))


def datasets(profile: str) -> tuple[str, ...]:
    """Every dataset the chapter's runs read (the CLI checks them all before the first run)."""
    return (budget(profile)["dataset"],)


def names(profile: str) -> dict[str, str]:
    """Model names of the light net, the booster and each Rocket pair."""
    light, booster, width = budget(profile)["pair"]
    pair = f"rocket_{light}_{booster}_{width}"
    return {"light": f"wrn_{light}_{width}", "booster": f"wrn_{booster}_{width}", "interval": f"{pair}_interval",
            "bottom": f"{pair}_bottom", "none": f"{pair}_none"}


def _run(profile: str, model: str, **changes) -> RunSpec:
    b = budget(profile)
    settings = dict(epochs=b["epochs"], lr=b["lr"], schedule=b["schedule"], augment=b["augment"], subset=b["subset"])
    return RunSpec(b["dataset"], model, **{**settings, **changes})


def booster_teacher(profile: str) -> RunSpec:
    """The separately trained booster (seed 0): the teacher of KD, of rocket + KD and of "no joint training"."""
    return _run(profile, names(profile)["booster"])


def rocket_run(profile: str, sharing: str = "interval", hint: str = "mimic", lam: float = 0.03,
               **params) -> RunSpec:
    values = {"lam": lam, "hint": hint, **params}
    return _run(profile, names(profile)[sharing], method="rocket", method_params=tuple(values.items()))


def lambda_grid(profile: str) -> dict[str, dict[float, RunSpec]]:
    """Stage 1: each hint loss at each λ, interval sharing, seed 0."""
    return {hint: {lam: rocket_run(profile, hint=hint, lam=lam) for lam in lams}
            for hint, lams in budget(profile)["lambdas"].items()}


def record(spec: RunSpec, train_missing: bool = True, device=None) -> dict:
    return get_or_train(spec, train_missing, device, "line", keep_divergence=True)


def chosen_lambdas(profile: str, train_missing: bool = True, device=None) -> dict[str, float]:
    """Per hint loss, the λ whose run has the best final validation accuracy of the light net (ties: the first)."""
    best = {}
    for hint, cells in lambda_grid(profile).items():
        best[hint] = best_on_validation({lam: record(spec, train_missing, device)["metrics"]["val_acc"]
                                         for lam, spec in cells.items()})
    return best


def control_runs(profile: str) -> dict[str, dict[str, list[RunSpec]]]:
    """The KD control study (``kdlib.claims.control_table``), every seed, read on validation: why KD from the
    booster does not beat the light net alone here. Each arm changes one thing and keeps the rest of the chapter's
    setting: the budget (light net, booster-teacher and KD all trained ``control_epochs``), the learning rate (the
    booster-teacher kept) or the KD strength (α; the official code's term, ``CODE_KD_PARAMS``)."""
    b = budget(profile)
    light = names(profile)["light"]

    def kd(teacher: RunSpec, params, **changes) -> RunSpec:
        return _run(profile, light, method="kd", teacher=teacher, method_params=params, **changes)

    def arm(teacher: RunSpec, **changes) -> dict[str, RunSpec]:
        return {"student alone": _run(profile, light, **changes), "teacher alone": teacher,
                "KD, book's term": kd(teacher, KD_PARAMS, **changes),
                "KD, code's term": kd(teacher, CODE_KD_PARAMS, **changes)}

    teacher = booster_teacher(profile)
    arms = {"the chapter's setting": arm(teacher)}
    for epochs in b["control_epochs"]:
        arms[f"{epochs} epochs"] = arm(teacher.replace(epochs=epochs), epochs=epochs)
    for lr in b["control_lrs"]:
        arms[f"lr {lr:g}"] = arm(teacher, lr=lr)
    for alpha in b["control_alphas"]:
        arms[f"α {alpha:g}"] = {"student alone": _run(profile, light),
                                "KD, book's term": kd(teacher, (("alpha", alpha), ("temperature", 4.0)))}
    return {name: {row: [spec.replace(seed=seed) for seed in b["seeds"]] for row, spec in rows.items()}
            for name, rows in arms.items()}


def table_runs(profile: str, train_missing: bool = True, device=None) -> dict[str, list[RunSpec]]:
    """Stage 2: every row, one spec per seed. "(b)" is interval sharing, "(a)" bottom sharing, as in the paper."""
    lam = chosen_lambdas(profile, train_missing, device)
    model = names(profile)
    teacher = booster_teacher(profile)
    rocket = rocket_run(profile, lam=lam["mimic"])
    rows = {
        "light alone": _run(profile, model["light"]),
        "booster alone": teacher,
        "KD from the booster": _run(profile, model["light"], method="kd", teacher=teacher, method_params=KD_PARAMS),
        "rocket (b)": rocket,
        "rocket (a)": rocket_run(profile, "bottom", lam=lam["mimic"]),
        "rocket + KD (b)": rocket.replace(method="rocket_kd", teacher=teacher),
        "no gradient block (b)": rocket_run(profile, lam=lam["mimic"], grad_block=0.0),
        "no sharing": rocket_run(profile, "none", lam=lam["mimic"]),
        "no joint training (b)": _run(profile, model["light"], method="mimic", teacher=teacher,
                                      method_params=(("lam", lam["mimic"]),), init_from_teacher=True),
        "hint L_MSE (b)": rocket_run(profile, hint="mse", lam=lam["mse"]),
        "hint L_KD (b)": rocket_run(profile, hint="kd", lam=lam["kd"]),
    }
    return {label: [spec.replace(seed=seed) for seed in budget(profile)["seeds"]] for label, spec in rows.items()}


def stages(profile: str, device=None) -> list:
    """The booster and the λ grid, then every table row (which reads the grid's choice on validation)."""
    return [lambda: [booster_teacher(profile),
                     *[spec for cells in lambda_grid(profile).values() for spec in cells.values()],
                     *[arm["teacher alone"][0] for arm in control_runs(profile).values() if "teacher alone" in arm]],
            lambda: [spec for specs in table_runs(profile, False, device).values() for spec in specs]
            + [spec for arm in control_runs(profile).values() for specs in arm.values() for spec in specs]]


def results(profile: str, train_missing: bool = True, device=None) -> dict:
    return {"profile": profile,
            "grid": {hint: {lam: record(spec, train_missing, device) for lam, spec in cells.items()}
                     for hint, cells in lambda_grid(profile).items()},
            "lambdas": chosen_lambdas(profile, train_missing, device),
            "table": {label: [record(spec, train_missing, device) for spec in specs]
                      for label, specs in table_runs(profile, train_missing, device).items()},
            "controls": {name: {row: [record(spec, train_missing, device) for spec in specs]
                                for row, specs in arm.items()} for name, arm in control_runs(profile).items()}}


# --- the claims ---------------------------------------------------------------------------------------------------

CHAPTER = "rocket_launching"
DATASET_NAMES = {"fashion_mnist": "Fashion-MNIST (stand-in for CIFAR-10)", "cifar10": "CIFAR-10"}
PAPER_SETTING = "CIFAR-10, WRN-16-1 light net, WRN-40-1 booster (Tables 1-3)"
# The paper's CIFAR-10 budget in optimiser steps: 200 epochs (the paper) of the 50,000 training images at the
# official code's batch of 128 (the paper gives no batch size).
PAPER_EPOCHS, PAPER_IMAGES, PAPER_BATCH = 200, 50_000, 128
PAPER_STEPS = PAPER_EPOCHS * math.ceil(PAPER_IMAGES / PAPER_BATCH)
SCHEMES = ("b", "a")  # interval sharing (b) first, as in the paper's tables


def steps(records: list[dict]) -> int | None:
    """The optimiser steps a row's runs took (the largest over seeds; a diverged run stops early), from the records."""
    found = [record["history"][-1]["step"] for record in records if record.get("history")]
    return max(found) if found else None


def setting(results: dict) -> Setting:
    """Where the claims were tested: dataset, the pair, the budget and its share of the paper's steps."""
    b = budget(results["profile"])
    light, booster, width = b["pair"]
    baseline = results["table"]["light alone"]
    spec, taken = baseline[0]["spec"], steps(baseline)
    images = f"{spec['subset']:,} training images" if spec.get("subset") else "the full training set"
    text = (f"{b['epochs']} epochs on {images}, batch {spec['batch_size']}"
            + (f", {taken:,} steps" if taken else "")
            + f" (paper: {PAPER_EPOCHS} epochs on {PAPER_IMAGES:,} CIFAR-10 images, {PAPER_STEPS:,} steps at the "
              f"official code's batch {PAPER_BATCH})")
    return Setting(DATASET_NAMES.get(b["dataset"], b["dataset"]),
                   f"WRN-{light}-{width} light net, WRN-{booster}-{width} booster", text,
                   None if taken is None else taken / PAPER_STEPS)


def preconditions(table: dict) -> tuple:
    """What a claim about distilling from the booster rests on, checked at this scale: the booster is the stronger
    network, and plain KD from the separately trained booster already helps the light net."""
    return (control("the booster alone beats the light net alone",
                    compare("booster alone − light alone", table["booster alone"], table["light alone"])),
            control("KD from the separately trained booster beats the light net alone",
                    compare("KD from the booster − light alone", table["KD from the booster"],
                            table["light alone"])))


def separate_training(table: dict) -> list[dict]:
    """Per seed, the booster alone plus the light net alone: what training them one after the other costs. Its
    own model name, so that ``compare`` treats it as an independent group (Welch): run times share no seed effect."""
    light = {record["spec"]["seed"]: record for record in table["light alone"]}
    out = []
    for booster in table["booster alone"]:
        partner = light.get(booster["spec"]["seed"])
        times = [training_seconds(booster), None if partner is None else training_seconds(partner)]
        out.append(timed(booster, None if None in times else sum(times), "booster + light net, trained separately"))
    return out


def claims(results: dict) -> list[Claim]:
    """C6-C9 at this chapter's setting, Holm-adjusted within the chapter (the paper's family)."""
    table, where = results["table"], setting(results)
    needs = preconditions(table)
    base = dict(chapter=CHAPTER, paper=PAPER_SETTING, setting=where)
    joint = {scheme: table[f"rocket ({scheme})"] for scheme in SCHEMES}
    found = [
        Claim("C6", statement="the light net trained beside its booster beats the light net alone and KD from a "
                              "separately trained booster", **base,
              comparisons=tuple([compare(f"rocket ({s}) − light alone", joint[s], table["light alone"])
                                 for s in SCHEMES]
                                + [compare(f"rocket ({s}) − KD from the booster", joint[s],
                                           table["KD from the booster"]) for s in SCHEMES]),
              preconditions=needs),
        Claim("C7", statement="gradient block, parameter sharing and joint training each contribute "
                              "(interval sharing)", **base,
              comparisons=tuple(compare(f"rocket (b) − {row}", joint["b"], table[row])
                                for row in ("no gradient block (b)", "no sharing", "no joint training (b)")),
              preconditions=needs),
        Claim("C8", statement="the logit hint L_mimic beats L_MSE and L_KD (interval sharing)", **base,
              comparisons=tuple(compare(f"L_mimic − {name}", joint["b"], table[f"hint {name} (b)"])
                                for name in ("L_MSE", "L_KD")),
              preconditions=needs),
        Claim("C9", statement="one joint run costs less training time than the booster and the light net trained "
                              "separately (equal epochs)", **base, expect="lower",
              sesoi=time_sesoi(separate_training(table))[0], sesoi_reason=time_sesoi(separate_training(table))[1],
              comparisons=tuple(compare(f"rocket ({s}) − (booster + light net), training minutes",
                                        [timed(r) for r in joint[s]],
                                        separate_training(table), metric=TIME_METRIC, scale=1 / 60,
                                        unit="minutes")
                                for s in SCHEMES)),
    ]
    return adjust(found)
