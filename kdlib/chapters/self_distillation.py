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

``claims`` turns the records into the chapter's claims C14-C16, one per setting (the two kinds of exit are two
settings, after the two papers), with their preconditions.
"""

from __future__ import annotations

import math

from kdlib.chapters import Knob, epochs_knob, lr_knob, profile_budget, seeds_knob, subset_knob
from kdlib.claims import (TIME_METRIC, Claim, Precondition, Setting, adjust, compare, control, time_sesoi, timed,
                          training_seconds)
from kdlib.runs import RunSpec, get_or_train

KNOBS = {
    "dataset": Knob("name", "the dataset (Fashion-MNIST stands in for CIFAR-100 offline)",
                    options=("fashion_mnist", "cifar100")),
    "seeds": seeds_knob(), "epochs": epochs_knob("epochs of every run"), "subset": subset_knob(), "lr": lr_knob(),
}

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


def budget(profile) -> dict:
    return profile_budget(_BUDGETS, profile, (CHAPTER,))


def datasets(profile: str) -> tuple[str, ...]:
    """Every dataset the chapter's runs read (the CLI checks them all before the first run)."""
    return (budget(profile)["dataset"],)


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


def stages(profile: str, device=None) -> list:
    """Every row (the plain network that teaches the two-stage rows trains first, as their prerequisite)."""
    return [lambda: [plain(profile), *[spec for specs in table_runs(profile).values() for spec in specs]]]


def exit_costs(profile: str) -> dict[str, list[dict]]:
    """Per kind of exit, the parameters and multiply-accumulates per image of the path up to each exit (stem,
    stages 1..k, exit k), counted on freshly built networks: deterministic, no training, no timing."""
    from kdlib import data
    from kdlib.benchmark import multiply_accumulates
    from kdlib.models import build_model, count_parameters

    b = budget(profile)
    dataset = data.load(b["dataset"])
    out = {}
    for variant in VARIANTS:
        network = build_model(f"{b['backbone']}_sd_{variant.lower()}", dataset.image_shape, dataset.n_classes)
        out[variant] = [{"exit": k, "parameters": count_parameters(network.exit_network(k)),
                         "multiply-accumulates": multiply_accumulates(network.exit_network(k), dataset.image_shape)}
                        for k in EXITS]
    return out


def results(profile: str, train_missing: bool = True, device=None) -> dict:
    return {"profile": profile,
            "table": {label: [get_or_train(spec, train_missing, device, "line") for spec in specs]
                      for label, specs in table_runs(profile).items()},
            "exit_costs": exit_costs(profile)}


# --- the claims ---------------------------------------------------------------------------------------------------

CHAPTER = "self_distillation"
VARIANTS = ("ICCV", "TPAMI")
EXITS = (1, 2, 3, 4)
DATASET_NAMES = {"fashion_mnist": "Fashion-MNIST (stand-in for CIFAR-100)", "cifar100": "CIFAR-100"}
BACKBONE_NAMES = {"resnet10_narrow": "narrow ResNet-10 (one block per stage, widths 16-128)",
                  "resnet18": "ResNet-18"}
BRANCH_SOURCES = {"ICCV": "the public re-implementation of the conference paper", "TPAMI": "the official journal code"}
PAPER_SETTINGS = {"ICCV": "CIFAR-100, ResNet-18 with bottleneck exits (ICCV 2019)",
                  "TPAMI": "CIFAR-100, ResNet-18 with attention exits (TPAMI 2021)"}
# The papers' budgets in optimiser steps: the official journal code trains 250 epochs on CIFAR-100's 50,000 images
# at batch 128; the conference paper's recipe was not found and it has no official code.
PAPER_STEPS = {"ICCV": None, "TPAMI": 250 * math.ceil(50_000 / 128)}
MATCH_MARGIN = 0.5  # C16 "matches", in points: under a fifth of the papers' smallest average gain (2.65, CIFAR-100)


def steps(records: list[dict]) -> int | None:
    """The optimiser steps a row's runs took (the largest over seeds), from the records' histories."""
    found = [record["history"][-1]["step"] for record in records if record.get("history")]
    return max(found) if found else None


def setting(results: dict, variant: str) -> Setting:
    """Where a claim about ``variant``'s exits was tested: dataset, network, budget and its share of the paper's."""
    b = budget(results["profile"])
    baseline = results["table"]["plain network"]
    spec, taken = baseline[0]["spec"], steps(baseline)
    images = f"{spec['subset']:,} training images" if spec.get("subset") else "the full training set"
    paper = PAPER_STEPS[variant]
    text = (f"{b['epochs']} epochs on {images}, batch {spec['batch_size']}" + (f", {taken:,} steps" if taken else "")
            + (f" (official journal code: 250 epochs on 50,000 CIFAR-100 images, {paper:,} steps)" if paper
               else " (paper's recipe not found)"))
    return Setting(DATASET_NAMES.get(b["dataset"], b["dataset"]),
                   f"{BACKBONE_NAMES.get(b['backbone'], b['backbone'])}, {variant} exits", text,
                   None if taken is None or paper is None else taken / paper)


def _shallow(table: dict, k: int) -> tuple[list[dict], list[dict]]:
    return table[f"exit {k} path alone"], table[f"exit {k} path, KD from the plain network"]


def preconditions(table: dict) -> tuple:
    """What a claim about distilling the deepest classifier into the shallow ones rests on, checked at this scale
    for each shallow exit k: the full network trained alone beats exit k's path trained alone (there is something
    to teach), and plain KD from that network into the path beats the path alone (distillation works here)."""
    teacher = [control(f"the plain network beats the exit-{k} path alone",
                       compare(f"plain network − exit {k} path alone", table["plain network"], _shallow(table, k)[0]))
               for k in EXITS[:-1]]
    kd = [control(f"KD from the plain network into the exit-{k} path beats that path alone",
                  compare(f"exit {k} path: KD − alone", _shallow(table, k)[1], _shallow(table, k)[0]))
          for k in EXITS[:-1]]
    return tuple(teacher + kd)


def two_stage_training(table: dict) -> list[dict]:
    """Per seed s, the plain network's seed-s run plus the three KD students of seed s: what the two-stage
    procedure costs for the same four classifiers. The students all learnt from the seed-0 plain network; each
    seed's plain run is one measurement of what training that teacher costs. The students read the teacher's
    cached logits, so the teacher's one pass over the training set is not counted (in the two-stage side's favour).
    Its own model name, so that ``compare`` treats it as an independent group (Welch)."""
    students = [{r["spec"]["seed"]: r for r in _shallow(table, k)[1]} for k in EXITS[:-1]]
    out = []
    for teacher in table["plain network"]:
        seed = teacher["spec"]["seed"]
        times = [training_seconds(teacher)] + [None if seed not in by_seed else training_seconds(by_seed[seed])
                                               for by_seed in students]
        out.append(timed(teacher, None if None in times else sum(times),
                          "plain network, then KD into the three exit paths"))
    return out


def claims(results: dict) -> list[Claim]:
    """C14-C16 for each kind of exit, Holm-adjusted within the chapter (the paper's family)."""
    table = results["table"]
    needs = preconditions(table)
    found = []
    for variant in VARIANTS:
        sd = table[f"SD, {variant} exits"]
        base = dict(chapter=CHAPTER, paper=PAPER_SETTINGS[variant], setting=setting(results, variant))
        found.append(Claim(
            "C14", statement=f"every exit, the deepest included, beats the same network trained alone, and the "
                             f"ensemble of the exits beats the deepest exit ({variant} exits)", **base,
            comparisons=(compare("exit 4/4 − plain network", sd, table["plain network"], "exit4_test_acc", "test_acc"),
                         *[compare(f"exit {k}/4 − exit {k} path alone", sd, _shallow(table, k)[0],
                                   f"exit{k}_test_acc", "test_acc") for k in EXITS[:-1]],
                         compare("ensemble − exit 4/4", sd, sd, "ensemble_test_acc", "exit4_test_acc")),
            preconditions=needs))
        costs = results["exit_costs"][variant]
        falls = {name: [f"exit {a['exit']} has no fewer than exit {b['exit']}"
                        for a, b in zip(costs, costs[1:]) if not a[name] < b[name]]
                 for name in ("parameters", "multiply-accumulates")}
        counted = ("the path up to exit " + ", ".join(str(c["exit"]) for c in costs) + " has " + "; ".join(
                f"{' → '.join(f'{c[name]:,}' for c in costs)} {name}"
                + (f" ({', '.join(falls[name])})" if falls[name] else "") for name in falls)
                   + f" per image, counted on the networks as kdlib builds them (branches after "
                     f"{BRANCH_SOURCES[variant]}); latency is measured on the page and takes no part here")
        # C15 is a property of the exits as built, which the paper gives only in outline: where kdlib's branches
        # make a shallower path no cheaper, the setting breaks the claim's premise (untestable, never contradicted)
        premise = Precondition("kdlib's exit branches make each shallower path cheaper than the next (the claim's "
                               "premise: exits that are shallower networks)", not any(falls.values()), counted)
        found.append(Claim(
            "C15", statement=f"a shallower exit costs fewer parameters and operations, all from one trained network "
                             f"({variant} exits)", **base, basis="measurement",
            holds=not any(falls.values()), preconditions=(premise,), note=counted))
        found.append(Claim(
            "C16", statement=f"one stage matches two: each shallow exit is as accurate as its path distilled from a "
                             f"separately trained network, within ±{MATCH_MARGIN:g} points ({variant} exits)", **base,
            expect="matches",
            comparisons=tuple(compare(f"exit {k}/4 − two-stage exit-{k} student", sd, _shallow(table, k)[1],
                                      f"exit{k}_test_acc", "test_acc", margin=MATCH_MARGIN)
                              for k in EXITS[:-1]),
            preconditions=needs))
        found.append(Claim(
            "C16", statement=f"one stage costs less training time than two: the plain network, then KD into the "
                             f"three exit paths ({variant} exits)", **base, expect="lower",
            sesoi=time_sesoi(two_stage_training(table))[0], sesoi_reason=time_sesoi(two_stage_training(table))[1],
            comparisons=(compare("one stage − two stages, training minutes",
                                 [timed(r) for r in sd], two_stage_training(table),
                                 metric=TIME_METRIC, scale=1 / 60, unit="minutes"),)))
    return adjust(found)


def ablations(results: dict) -> dict:
    """What the book adds to the papers' claims, descriptive only (no verdict, outside the ledger's family): per exit,
    self-distillation against deep supervision (the same exits on labels alone) and each kind of exit with its
    feature hint against without. Paired where the design pairs the runs."""
    table = results["table"]
    out = {}
    for k in EXITS:
        metric = f"exit{k}_test_acc"
        out[f"exit {k}/4"] = {
            "SD − deep supervision (ICCV exits)": compare(f"SD − deep supervision, exit {k}/4", table["SD, ICCV exits"],
                                                         table["deep supervision (ICCV exits)"], metric),
            **{f"hint − no hint ({variant} exits)": compare(f"{variant} hint − no hint, exit {k}/4",
                                                           table[f"SD, {variant} exits"],
                                                           table[f"SD, {variant} exits, no hint"], metric)
               for variant in VARIANTS}}
    return out
