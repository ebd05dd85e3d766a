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
settings, after the two papers), with their preconditions. The last section holds the page's tables and figures,
each a function of the results, and ``page_numbers``, the values its prose quotes.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from kdlib.chapters import Testbed, best_on_validation, cpu_pilots, load_plan, plan_stages, read_gates, walked
from kdlib.chapters import testbed_table as shared_testbed_table
from kdlib.profiles import epochs_knob, Knob, lr_knob, profile_budget, seeds_knob, subset_knob
from kdlib.claims import (TIME_METRIC, Claim, Gate, Precondition, Setting, adjust, compare, control,
                          mean_training_seconds, metric_values, points, time_sesoi, timed, training_seconds)
from kdlib.report import mean_std
from kdlib.runs import get_or_train
from kdlib.spec import RunSpec

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


def plan(profile, choose) -> dict:
    """What the chapter trains: every row (no choice on validation: the plain network that teaches the two-stage rows
    is one of them, and trains first as their prerequisite)."""
    return {"table": table_runs(profile)}


def stages(profile: str, device=None) -> list:
    return plan_stages(plan, profile, depth=1)


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
    found = load_plan(plan, profile, lambda spec: get_or_train(spec, train_missing, device, "line"))
    return {"profile": profile, **found, "exit_costs": exit_costs(profile)}


# --- SD-1: a second testbed whose controls can pass (issue 29), fixed 2026-12-07 before any of its records --------
# The first edition's preconditions fail on test (8,000 images, 5 epochs, about 310 steps, test on the first 8,000
# images): KD into an exit path gains nothing over the path alone, and the plain network beats only the exit-1 path.
# Published KD gains appear with little data and long training (the book's introduction is the template), so SD-1
# trains every network on 5,000 images for 30 epochs (about 1,200 steps), validates on the fixed 5,000-image split
# every 3 epochs and tests once on all 10,000 test images, with the chapter's recipe otherwise (SGD 0.1, warm-up and
# cosine, no augmentation). Its pilot (seeds 0-1) trains the plain network, the exit-1 path alone and the exit-1
# path distilled from the plain network of its own seed, at the two-stage rows' α 0.3, T 3. Gates, on validation,
# on the exit-1 path (the shallowest: where the most is left to teach): the plain network − the path alone ≥ 2
# points, KD − the path alone ≥ 1 point. Fallback (i): 2,000 images for 60 epochs (about 960 steps), where a path
# alone over-fits more. The walk stops at the first testbed whose gates pass.
# Both failed both gates (2026-12-07: plain − path +1.85 and +1.14, KD − path +0.42 and +0.35): less data shrank
# the gap. Fallback (ii), added then, before any of its records: SD-1 with the papers' own augmentation (4-pixel
# crops and flips, the ``paper`` profile's), which lets the deeper network use its capacity and lets a teacher
# label the same augmented batch its student sees. Same gates.
# Fallback (ii) passed the teacher gate (+4.54) and failed the KD gate (+0.30, 2026-12-07). Fallback (iii), added
# then, before any of its records: (ii)'s networks and records, with KD's (α, T) into the path chosen on seed 0's
# validation accuracy from a 3 × 3 grid around the two-stage rows' setting (α 0.3, 0.6, 0.9 × T 1, 3, 6: a stronger
# pull, and the temperatures Hinton found best for small students), then the chosen cell at seed 1. Same gates. A
# choice on seed 0 makes the KD gate optimistic by the best of nine draws; the main runs would use other seeds.
# Fallback (iv), added 2026-12-07 while (iii)'s seed-1 run trained, before any record of its own: (ii) on a
# 100-class task (``kdlib.data.pair_up``: two Fashion-MNIST garments stacked as two channels, label 10 a + b; a
# shift or mirror moves both, so the crops and flips keep the label), 5,000 training pairs. The papers' data is
# CIFAR-100, and KD gains grow with the number of classes. KD at the cell (iii)'s seed-0 grid chose on validation
# (α 0.9, T 1), so (iv) trains no grid. Same gates.
SD1_GATES = (Gate("the plain network beats the exit-1 path alone", 2.0),
             Gate("KD from the same-seed plain network into the exit-1 path beats that path alone", 1.0))
SD1_PILOT_SEEDS = (0, 1)
SD1_PILOT_ROWS = ("plain network", "exit 1 path alone", "exit 1 path, KD from the plain network")
SD1_TESTBEDS = (
    Testbed("SD-1", "Fashion-MNIST at 5,000 training images, 30 epochs", train_size=5000, epochs=30, eval_every=3),
    Testbed("SD-1, fallback (i)", "Fashion-MNIST at 2,000 training images, 60 epochs", train_size=2000, epochs=60,
            eval_every=6),
    Testbed("SD-1, fallback (ii)", "Fashion-MNIST at 5,000 training images, 30 epochs, with the papers' crops and "
            "flips", train_size=5000, epochs=30, eval_every=3, augment="crop_flip"),
    Testbed("SD-1, fallback (iii)", "fallback (ii) with KD's α and T into the path chosen on validation",
            train_size=5000, epochs=30, eval_every=3, augment="crop_flip"),
    Testbed("SD-1, fallback (iv)", "100 classes: pairs of Fashion-MNIST garments stacked as two channels (label "
            "10 a + b), 5,000 training pairs, 30 epochs, crops and flips; KD at (iii)'s chosen α 0.9, T 1",
            train_size=5000, epochs=30, eval_every=3, augment="crop_flip", dataset="fashion_pairs"),
)
SD1_KD_GRID = tuple((alpha, tau) for alpha in (0.3, 0.6, 0.9) for tau in (1.0, 3.0, 6.0))
KD_ROW = "exit 1 path, KD from the plain network"


def kd_settings(testbed: Testbed) -> tuple[tuple[float, float], ...]:
    """The (α, T) cells KD into the path is chosen from on seed 0's validation: fallback (iii)'s grid; (iv) the cell
    (iii) chose; every other testbed the two-stage rows' one setting."""
    if testbed.name == SD1_TESTBEDS[3].name:
        return SD1_KD_GRID
    return ((0.9, 1.0),) if testbed.name == SD1_TESTBEDS[4].name else (tuple(value for _, value in KD_PARAMS),)


def sd1_run(model: str, seed: int, testbed: Testbed = SD1_TESTBEDS[0], **changes) -> RunSpec:
    """``model`` with the chapter's cpu recipe on ``testbed``'s data and budget; ``changes`` make it a variant."""
    b = _BUDGETS["cpu"]
    settings = dict(epochs=testbed.epochs, lr=b["lr"], schedule=b["schedule"], augment=testbed.augment, seed=seed,
                    train_size=testbed.train_size, val_size=testbed.val_size, eval_every=testbed.eval_every)
    return RunSpec(testbed.dataset, model, **{**settings, **changes})


def sd1_pilot(testbed: Testbed = SD1_TESTBEDS[0], chosen: tuple | None = None) -> dict:
    """A testbed's pilot: the plain network and the exit-1 path alone at seeds 0-1, KD from the seed-0 plain network
    into the seed-0 path at every cell of ``kd_settings`` ("KD grid, seed 0": cell → spec) and, once the cell is
    known (``chosen``, or the only one), KD at it for both seeds, each from the plain network of its own seed."""
    backbone = _BUDGETS["cpu"]["backbone"]
    plain_ = {seed: sd1_run(backbone, seed, testbed) for seed in SD1_PILOT_SEEDS}
    alone = {seed: sd1_run(f"{backbone}_exit1_iccv", seed, testbed) for seed in SD1_PILOT_SEEDS}

    def kd(seed: int, cell: tuple) -> RunSpec:
        return alone[seed].replace(method="kd", teacher=plain_[seed],
                                   method_params=(("alpha", cell[0]), ("temperature", cell[1])))
    cells = kd_settings(testbed)
    chosen = cells[0] if chosen is None and len(cells) == 1 else chosen
    out = {"plain network": list(plain_.values()), "exit 1 path alone": list(alone.values()),
           "KD grid, seed 0": {cell: kd(SD1_PILOT_SEEDS[0], cell) for cell in cells}}
    if chosen is not None:
        out[KD_ROW] = [kd(seed, chosen) for seed in SD1_PILOT_SEEDS]
    return out


def pilot_testbeds() -> tuple[Testbed, ...]:
    """The testbeds the pilot tries, in order: the first whose gates pass is the chapter's SD-1."""
    return SD1_TESTBEDS


def _chosen(grid_records: dict) -> tuple:
    """The grid cell whose seed-0 run ends with the best validation accuracy."""
    return best_on_validation({cell: record["metrics"].get("val_acc") for cell, record in grid_records.items()})


def pilot_stages(testbed: Testbed = SD1_TESTBEDS[0]) -> list:
    """Train a testbed's pilot (the executor trains each plain network before the KD runs it teaches): with one KD
    setting in one stage; with a grid, the networks and the seed-0 grid first, then the chosen cell at seed 1."""
    from kdlib.runs import current_record

    pilot = sd1_pilot(testbed)
    first = [*pilot["plain network"], *pilot["exit 1 path alone"], *pilot["KD grid, seed 0"].values()]
    if KD_ROW in pilot:
        return [lambda: list(dict.fromkeys([*first, *pilot[KD_ROW]]))]

    def second():
        records = {cell: current_record(spec) for cell, spec in pilot["KD grid, seed 0"].items()}
        if any(record is None for record in records.values()):
            raise FileNotFoundError(f"{testbed.name}: KD's cell at seed 1 follows the seed-0 grid, whose runs have "
                                    "no record yet; train the first stage (`python -m kdlib pilot "
                                    "self_distillation`) before listing the second")
        return sd1_pilot(testbed, _chosen(records))[KD_ROW]
    return [lambda: first, second]


def pilot_results(train_missing: bool = False, testbed: Testbed = SD1_TESTBEDS[0]) -> dict:
    """A testbed's pilot records, grouped as ``sd1_pilot`` lists its specs (KD at the chosen cell), with the cell
    chosen ("chosen")."""
    read = lambda spec: get_or_train(spec, train_missing, None, "line")  # noqa: E731
    pilot = sd1_pilot(testbed)
    grid = {cell: read(spec) for cell, spec in pilot["KD grid, seed 0"].items()}
    chosen = _chosen(grid)
    return {"plain network": [read(spec) for spec in pilot["plain network"]],
            "exit 1 path alone": [read(spec) for spec in pilot["exit 1 path alone"]],
            KD_ROW: [read(spec) for spec in sd1_pilot(testbed, chosen)[KD_ROW]],
            "KD grid, seed 0": grid, "chosen": chosen}


def gate_outcome(found: dict) -> dict:
    """The pilot read on validation: each gate on the seed means against the exit-1 path alone (KD at the cell
    chosen on seed 0); per gate its difference in points and whether it passed, and ``go``."""
    rows = {row: found[row] for row in SD1_PILOT_ROWS}
    return {"rows": rows, "chosen": found.get("chosen"), **read_gates(
        (gate, found[better], found["exit 1 path alone"])
        for gate, better in zip(SD1_GATES, ("plain network", KD_ROW)))}


def pilot_summary(found: dict) -> pd.DataFrame:
    """Every pilot row on validation: its accuracy, mean ± std over the pilot's seeds (%), KD at its (α, T); with a
    grid, each cell's seed-0 run after them, the chosen one marked."""
    setting = lambda cell: f"α {cell[0]:g}, T {cell[1]:g}"  # noqa: E731
    rows = [{"row": row, "KD setting": setting(found["chosen"]) if row == KD_ROW else "–",
             "validation accuracy (%)": mean_std(metric_values(found[row], "val_acc"))} for row in SD1_PILOT_ROWS]
    grid = found.get("KD grid, seed 0", {})
    if len(grid) > 1:
        rows += [{"row": "KD into the path, seed 0 only", "KD setting": setting(cell),
                  "validation accuracy (%)": f"{100 * record['metrics']['val_acc']:.2f}"
                  + (" ← chosen" if cell == found["chosen"] else "")} for cell, record in grid.items()]
    return pd.DataFrame(rows)


def testbed_overview(profile, train_missing: bool = False) -> list[tuple[Testbed, dict | None]]:
    """The pilots in the order they were tried, each with its records, up to the first testbed whose gates passed
    (the later ones with None). The pilots are this book's cpu testbeds: other profiles show none."""
    return cpu_pilots(profile, pilot_testbeds(), lambda testbed: pilot_results(train_missing, testbed),
                      gate_outcome)


def testbed_table(overview: list[tuple[Testbed, dict | None]]) -> pd.DataFrame:
    """One row per testbed tried: its data, the two gates' differences on validation against their margins (means
    over the pilot's seeds), and the outcome."""
    return shared_testbed_table(overview, gate_outcome, list(zip(SD1_GATES, ("plain network − exit-1 path alone",
                                                                             "KD − exit-1 path alone"))))


def testbed_numbers(overview: list[tuple[Testbed, dict | None]]) -> dict[str, str]:
    """What the page's SD-1 paragraph glues: the gates' margins, the testbeds piloted, the one that passed (or
    "none") and what follows from it."""
    tried, chosen = walked(overview, gate_outcome)
    out = {"sd1_teacher_gate": f"{SD1_GATES[0].margin:g}", "sd1_kd_gate": f"{SD1_GATES[1].margin:g}",
           "sd1_tried": "; ".join(tried) or "none", "sd1_chosen": chosen}
    out["sd1_outcome"] = (
        f"{chosen} passed both gates, so it is the setting in which C14 and C16 can be judged; its main runs (every "
        "row of the table above, at the seed count the planning function gives from this pilot's spread) are not "
        "trained yet, and until they are, the claims below are still judged on the first edition's setting"
        if chosen != "none" else
        "none passed: C14 and C16 stay untestable in this book for the reason these pilots measure, and no SD-1 main "
        "run was trained" if tried else "no pilot was run at this profile")
    return out


# --- the claims ---------------------------------------------------------------------------------------------------

CHAPTER = "self_distillation"
PAGE = "04_self_distillation"  # its notebook: notebooks/04_self_distillation.py
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


# --- the page: its tables, figures and the numbers its prose quotes ----------------------------------------------
# Every function below reads the chapter's ``results`` (or the networks as kdlib builds them); accuracies are held
# as fractions in the records and shown in points.

SD_ROWS = ("SD, ICCV exits", "SD, ICCV exits, no hint", "SD, TPAMI exits", "SD, TPAMI exits, no hint",
           "deep supervision (ICCV exits)")
ACCURACY_COLUMNS = ("baseline", "exit 1/4", "exit 2/4", "exit 3/4", "exit 4/4", "ensemble")
PAPER_ROWS = (("paper", "paper, ResNet-18"), ("official code (third party)", "official code, ResNet-18"),
              ("official code, no feature loss (third party)", "official code without the hint"))
CURVE_ROWS = ("SD, TPAMI exits", "deep supervision (ICCV exits)")
NONE = "–"  # a cell the row has no value for


def accuracy(records: list[dict], metric: str = "test_acc") -> str:
    """A cell of the accuracy tables: "mean ± std" over seeds of ``metric`` in points (diverged runs counted)."""
    return mean_std(metric_values(records, metric))


def mean_points(records: list[dict], metric: str = "test_acc") -> float:
    """Mean over seeds of ``metric`` in points; diverged runs left out."""
    return float(np.nanmean(points(records, metric)))


def setup_specs(results: dict) -> dict[str, RunSpec]:
    """The four roles of the setup table (``report.setup_table``), each as its row's seed-0 spec."""
    table = results["table"]
    return {role: RunSpec.from_dict(table[row][0]["spec"]) for role, row in (
        ("plain network", "plain network"), ("self-distillation", "SD, TPAMI exits"),
        ("exit 1 path alone", "exit 1 path alone"), ("two-stage student", "exit 1 path, KD from the plain network"))}


def stage_shapes(network, image_shape: tuple[int, ...]) -> list[str]:
    """The output shape of every stage of a multi-exit network for one image ("C×H×W"): where each exit branches
    off."""
    import torch

    shapes = []
    with torch.no_grad():
        x = network.stem(torch.zeros(1, *image_shape))
        for stage in network.stages:
            x = stage(x)
            shapes.append("×".join(str(s) for s in x.shape[1:]))
    return shapes


def describe_branch(branch) -> str:
    """An exit's branch as the chain of its layers: "conv k×k/stride", "SepConv/stride" (two separable
    convolutions), "attention"; BatchNorm and ReLU are left out."""
    import torch

    parts = []
    for layer in branch.children():
        if isinstance(layer, torch.nn.Conv2d):
            parts.append(f"conv {layer.kernel_size[0]}×{layer.kernel_size[1]}/{layer.stride[0]}")
        elif isinstance(layer, torch.nn.Sequential):
            parts.append(f"SepConv/{layer[0].stride[0]}")
        elif not isinstance(layer, (torch.nn.BatchNorm2d, torch.nn.ReLU)):
            parts.append(type(layer).__name__.lower())
    return " → ".join(parts) or "(none: the network's own head)"


def exit_table(backbone: str, image_shape: tuple[int, ...], n_classes: int) -> pd.DataFrame:
    """Per kind of exit and exit: where it branches off (the stage's output shape), its branch, its own parameters
    (branch and classifier), and the parameters and multiply-accumulates per image of the path up to it, counted on
    the networks as kdlib builds them."""
    from kdlib.benchmark import multiply_accumulates
    from kdlib.models import build_model, count_parameters

    rows = []
    for variant in VARIANTS:
        network = build_model(f"{backbone}_sd_{variant.lower()}", image_shape, n_classes).eval()
        for k, shape in zip(EXITS, stage_shapes(network, image_shape)):
            path = network.exit_network(k)
            own = count_parameters(network.branches[f"exit{k}"]) + count_parameters(network.classifiers[f"exit{k}"])
            rows.append({"exits": variant, "exit": f"{k}/4", "stage output": shape,
                         "branch": describe_branch(network.branches[f"exit{k}"]), "exit's own parameters": f"{own:,}",
                         "parameters used up to this exit": f"{count_parameters(path):,}",
                         "multiply-accumulates": f"{multiply_accumulates(path, image_shape):,}"})
    return pd.DataFrame(rows)


def accuracy_table(results: dict) -> pd.DataFrame:
    """Test accuracy (%) of every exit, mean ± std over seeds, in the layout of the paper's CIFAR-100 table: each
    self-distillation row with the plain network as its baseline, each exit's path trained alone and distilled
    from the plain network under the exit it matches, then the paper's ResNet-18 row and the third-party runs of the
    official journal code (single numbers, as published)."""
    table = results["table"]
    data = DATASET_NAMES.get(budget(results["profile"])["dataset"], "").split(" (")[0]
    rows = [{"row": row, "data": data, "baseline": accuracy(table["plain network"]),
             **{f"exit {k}/4": accuracy(table[row], f"exit{k}_test_acc") for k in EXITS},
             "ensemble": accuracy(table[row], "ensemble_test_acc")} for row in SD_ROWS]
    rows.append({"row": "each path trained alone", "data": data, "baseline": NONE,
                 **{f"exit {k}/4": accuracy(_shallow(table, k)[0]) for k in SHALLOW_EXITS},
                 "exit 4/4": accuracy(table["plain network"]), "ensemble": NONE})
    rows.append({"row": "each path distilled from the plain network", "data": data, "baseline": NONE,
                 **{f"exit {k}/4": accuracy(_shallow(table, k)[1]) for k in SHALLOW_EXITS},
                 "exit 4/4": NONE, "ensemble": NONE})
    paper = reference_table()
    for kind, label in PAPER_ROWS:
        values = paper[(paper["network"] == "ResNet-18") & (paper["kind"] == kind)].set_index("column")["accuracy"]
        rows.append({"row": label, "data": "CIFAR-100",
                     **{column: f"{values[column]:.2f}" if column in values else NONE for column in ACCURACY_COLUMNS}})
    return pd.DataFrame(rows, columns=["row", "data", *ACCURACY_COLUMNS])


def reference_table() -> pd.DataFrame:
    """The papers' published numbers (``kdlib/reference/zhang2019.csv``)."""
    from kdlib.report import reference_table as read

    return read("zhang2019")


def exit_curve_frame(results: dict, rows: tuple[str, ...] = CURVE_ROWS) -> pd.DataFrame:
    """Test accuracy (%) of every exit after every epoch, one line per run, epoch and exit, for the rows given."""
    return pd.DataFrame([{"run": row, "seed": record["spec"]["seed"], "epoch": entry["epoch"], "exit": f"{k}/4",
                          "test acc (%)": entry[f"exit{k}_test_acc"] * 100}
                         for row in rows for record in results["table"][row] for entry in record["history"]
                         for k in EXITS])


def exit_curves(results: dict, rows: tuple[str, ...] = CURVE_ROWS):
    """One panel per row: each exit's test accuracy per epoch, mean over seeds with a band of one standard
    deviation. Returns seaborn's grid."""
    import seaborn as sns

    return sns.relplot(exit_curve_frame(results, rows), x="epoch", y="test acc (%)", hue="exit", col="run",
                       kind="line", errorbar="sd", height=3.2, aspect=1.2)


def exit_latencies(results: dict, repeats: int = 10) -> dict[tuple[str, int], dict[str, float]]:
    """CPU latency (batch 1 and 256, median of ``repeats``) of the path up to each exit, measured now on freshly
    built networks: each kind of self-distillation network run up to exit k (``exit_network``), and the networks
    trained alone (each shallow path, and the plain network for exit 4). Keys: (network, exit) as in
    ``cost_frame``. Timing, not records: it varies between executions."""
    import torch

    from kdlib import data
    from kdlib.benchmark import inference_cost
    from kdlib.models import build_model

    b = budget(results["profile"])
    dataset = data.load(b["dataset"])
    shape, classes = dataset.image_shape, dataset.n_classes
    out = {}
    for variant in VARIANTS:
        torch.manual_seed(0)
        network = build_model(f"{b['backbone']}_sd_{variant.lower()}", shape, classes).eval()
        for k in EXITS:
            out[(f"SD, {variant} exits", k)] = inference_cost(network.exit_network(k), shape, repeats=repeats)
    for k, row in _alone_rows():
        model = build_model(results["table"][row][0]["spec"]["model"], shape, classes).eval()
        out[("trained alone", k)] = inference_cost(model, shape, repeats=repeats)
    return {key: {name: cost[name] for name in ("latency, batch 1 (ms)", "latency, batch 256 (ms)")}
            for key, cost in out.items()}


def _alone_rows() -> list[tuple[int, str]]:
    """The networks trained alone, one per exit: each shallow path, and the plain network for the deepest."""
    return [*((k, f"exit {k} path alone") for k in SHALLOW_EXITS), (EXITS[-1], "plain network")]


def cost_frame(results: dict, latencies: dict | None = None) -> pd.DataFrame:
    """What deploying each exit costs, in numbers: the parameters and multiply-accumulates (millions, per image) of
    the path up to it (``results["exit_costs"]``), its latency where ``latencies`` (``exit_latencies``) gives it,
    and its mean test accuracy (%). The paths trained alone are the ICCV exits' paths as networks of their own (the
    same parameters and operations), listed after the ICCV exits."""
    table = results["table"]
    rows = []

    def add(network, cost, records, metric):
        latency = (latencies or {}).get((network, cost["exit"]), {})
        rows.append({"network": network, "exit": f"{cost['exit']}/4", "parameters": cost["parameters"],
                     "multiply-accumulates (M)": cost["multiply-accumulates"] / 1e6, **latency,
                     "test acc (%)": mean_points(records, metric)})

    for variant in VARIANTS:
        for cost in results["exit_costs"][variant]:
            add(f"SD, {variant} exits", cost, table[f"SD, {variant} exits"], f"exit{cost['exit']}_test_acc")
        if variant == "ICCV":
            by_exit = {cost["exit"]: cost for cost in results["exit_costs"]["ICCV"]}
            for k, row in _alone_rows():
                add("trained alone", by_exit[k], table[row], "test_acc")
    return pd.DataFrame(rows)


COST_FORMATS = {"parameters": "{:,.0f}", "multiply-accumulates (M)": "{:.2f}", "latency, batch 1 (ms)": "{:.2f}",
                "latency, batch 256 (ms)": "{:.1f}", "test acc (%)": "{:.2f}"}


def cost_table(results: dict, latencies: dict | None = None) -> pd.DataFrame:
    """``cost_frame`` as the page shows it: counts with thousands separators, millions and milliseconds to two
    decimals (batch-256 latency to one), accuracy in points to two."""
    frame = cost_frame(results, latencies)
    for column, form in COST_FORMATS.items():
        if column in frame:
            frame[column] = frame[column].map(form.format)
    return frame


def accuracy_for_cost(results: dict, ax=None):
    """Each exit's mean test accuracy against the counted multiply-accumulates of its path, one line per kind of
    network, each point labelled with its exit. Counted, not timed: CPU timings of these small networks vary by a
    factor of three between executions."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    costs = cost_frame(results)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4))
    sns.lineplot(costs, x="multiply-accumulates (M)", y="test acc (%)", hue="network", style="network",
                 markers=True, dashes=False, ax=ax)
    for _, point in costs.iterrows():
        ax.annotate(point["exit"], (point["multiply-accumulates (M)"], point["test acc (%)"]), fontsize=7,
                    xytext=(3, -9), textcoords="offset points")
    ax.set_title("Accuracy against the counted work of each exit's path")
    return ax


def two_stage_seconds(table: dict) -> float:
    """Mean over seeds of the two-stage procedure's training seconds, as C16's cost claim counts them
    (``two_stage_training``: the plain network of a seed plus its three KD students)."""
    return float(np.nanmean([np.nan if r["metrics"][TIME_METRIC] is None else r["metrics"][TIME_METRIC]
                             for r in two_stage_training(table)]))


def training_time_frame(results: dict) -> pd.DataFrame:
    """Training seconds (steps only, mean over seeds) of one self-distillation run and of the two-stage procedures
    (the plain network, then KD into one exit's path or into all three), and each relative to the plain network."""
    table = results["table"]
    teacher = mean_training_seconds(table["plain network"])
    rows = [(f"one stage: self-distillation, {variant} exits (all four exits)",
             mean_training_seconds(table[f"SD, {variant} exits"])) for variant in ("TPAMI", "ICCV")]
    rows += [(f"two stages: plain network, then KD into the exit-{k} path",
              teacher + mean_training_seconds(_shallow(table, k)[1])) for k in SHALLOW_EXITS]
    rows.append(("two stages: plain network, then KD into all three paths", two_stage_seconds(table)))
    frame = pd.DataFrame(rows, columns=["procedure", "training time (s)"])
    frame["relative to the plain network"] = frame["training time (s)"] / teacher
    return frame


def training_time_table(results: dict) -> pd.DataFrame:
    """``training_time_frame`` as the page shows it: whole seconds, ratios to two decimals."""
    frame = training_time_frame(results)
    frame["training time (s)"] = frame["training time (s)"].map("{:.0f}".format)
    frame["relative to the plain network"] = frame["relative to the plain network"].map("{:.2f}".format)
    return frame


def stage_accuracy_table(results: dict) -> pd.DataFrame:
    """Test accuracy (%) of each shallow exit, mean ± std over seeds: in one stage (either kind of exit), from the
    two-stage procedure (its path distilled from the plain network), and its path trained alone."""
    table = results["table"]
    return pd.DataFrame([{"exit": f"{k}/4",
                          **{f"self-distillation, {variant} exits": accuracy(table[f"SD, {variant} exits"],
                                                                            f"exit{k}_test_acc")
                             for variant in VARIANTS},
                          "two stages (KD from the plain network)": accuracy(_shallow(table, k)[1]),
                          "path trained alone": accuracy(_shallow(table, k)[0])} for k in SHALLOW_EXITS])


def ablation_table(results: dict) -> pd.DataFrame:
    """``ablations`` as a table, one row per exit: each effect with its 95 % interval and raw p (no verdict)."""
    return pd.DataFrame([{"exit": exit_name, **{label: f"{c.text()} (p {c.p:.3f})" if c.testable else c.text()
                                                for label, c in row.items()}}
                         for exit_name, row in ablations(results).items()])


def chapter_claims(ledger: list[Claim]) -> list[Claim]:
    """This chapter's claims of the book's ledger, in ledger order."""
    return [claim for claim in ledger if claim.chapter == CHAPTER]


def _variant_claims(ours: list[Claim], variant: str) -> list[Claim]:
    return [claim for claim in ours if claim.setting.model.endswith(f"{variant} exits")]


def _comparison(ours: list[Claim], claim_id: str, variant: str, label: str):
    """The comparison ``label`` of ``variant``'s claim ``claim_id``."""
    return next(x for claim in _variant_claims(ours, variant) if claim.id == claim_id
                for x in claim.comparisons if x.label == label)


def claim_numbers(ours: list[Claim]) -> dict[str, object]:
    """The claims' results the page quotes: per kind of exit, its verdicts in one line, C14's deepest-exit and
    ensemble effects, C16's time effect; the margin of C16's match; and which claims were untestable and why."""
    out: dict[str, object] = {"margin": MATCH_MARGIN}
    for variant in VARIANTS:
        out[f"verdicts_{variant}"] = "; ".join(
            claim.id + {"points": " (accuracy)", "minutes": " (cost)"}.get(
                claim.comparisons[0].unit if claim.id == "C16" else "", "") + f" {claim.verdict}"
            for claim in _variant_claims(ours, variant))
        out[f"deepest_{variant}"] = _comparison(ours, "C14", variant, "exit 4/4 − plain network").text()
        out[f"ensemble_{variant}"] = _comparison(ours, "C14", variant, "ensemble − exit 4/4").text()
        out[f"time_{variant}"] = _comparison(ours, "C16", variant, "one stage − two stages, training minutes").text()
    failed = {p.statement: p.evidence for claim in ours for p in claim.failed_preconditions}
    untestable = sorted({f"{claim.id} ({claim.setting.model.split(', ')[-1]})" for claim in ours
                         if claim.verdict == "untestable here"})
    out["precondition_note"] = (
        (f"Untestable here: {', '.join(untestable)}. The preconditions that failed: "
         + "; ".join(f"{statement} ({evidence})" for statement, evidence in failed.items())
         + ". A verdict on those claims at this scale would say nothing about the papers.") if untestable else
        "Every precondition of C14 and C16 held at this scale.")
    return out


def page_numbers(results: dict, ledger: list[Claim]) -> dict[str, object]:
    """Every number and phrase the page's prose quotes (its glue names → values): the budget and loss weights, the
    training times, the CPU threads the latencies were measured with, and ``claim_numbers`` of the ledger."""
    import torch

    from kdlib.methods.self_distillation import SelfDistillationParams

    b, table, params = budget(results["profile"]), results["table"], SelfDistillationParams()
    times = training_time_frame(results).set_index("procedure")["relative to the plain network"]
    plain_times = [t for t in map(training_seconds, table["plain network"]) if t is not None]
    return {"profile": str(results["profile"]), "seeds": len(b["seeds"]), "epochs": b["epochs"],
            "dataset_name": DATASET_NAMES[b["dataset"]], "alpha": params.alpha,
            "temperature": params.temperature, "lam": params.lam,
            "subset": "the full training set" if b["subset"] is None else f"{b['subset']:,} training images",
            "plain_time_range": f"{min(plain_times):.0f}–{max(plain_times):.0f} s",
            "sd_over_plain": float(times["one stage: self-distillation, ICCV exits (all four exits)"]),
            "two_stage_all_over_plain": float(times.iloc[-1]), "threads": torch.get_num_threads(),
            **claim_numbers(chapter_claims(ledger))}
