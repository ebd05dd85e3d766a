"""Runs of the noisy-teachers chapter (Sau & Balasubramanian 2016): L2 logit regression with perturbed targets.

The paper states neither architectures nor a recipe (see the chapter's setup table). The book's reading: MNIST with
a LeNet-5 teacher (as KD_Lib reads the paper) and a shallow MLP student (784-100-100-10); Fashion-MNIST, the
stand-in for SVHN and CIFAR-10, with the introduction's ResNet-20 teacher and the same student.

Every choice is made on the validation split carved from the training set, in three stages per dataset:
1. teachers, and the student's learning rate for CE and for logit regression (seed 0);
2. at those rates, the α × σ sweep of the noisy teacher and of the noisy student; two dropout rates, each at every
   learning rate of the L2 grid (seed 0);
3. the best setting of each, and logit regression from several teachers, for every seed.
Stage 2 and 3 specs depend on stage 1 and 2 records, so the functions below read them (training them when missing
and ``train_missing`` is true).

``results`` gathers every record of the page, one entry per dataset; ``claims`` turns them into the chapter's
claims C1–C5, one per dataset, with their preconditions (see ``kdlib.claims`` for the verdicts).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from kdlib import claims as claimlib
from kdlib import stats
from kdlib.benchmark import multiply_accumulates
from kdlib.chapters import best_on_validation, Choose, introduction, load_plan, plan_stages, read_gates, tried_in_order
from kdlib.chapters import testbed_table as shared_testbed_table
from kdlib.profiles import epochs_knob, Knob, profile_budget, profile_name, seeds_knob, subset_knob
from kdlib.data import n_classes
from kdlib.models import build_model, count_parameters
from kdlib.runs import get_or_train
from kdlib.spec import RunSpec

CHAPTER = "noisy_teachers"
PAGE = "01_noisy_teachers"  # its notebook: notebooks/01_noisy_teachers.py

KNOBS = {
    "datasets": Knob("names", "MNIST first, then the dataset beyond it", options=("mnist", "fashion_mnist", "svhn",
                                                                                 "cifar10")),
    "seeds": seeds_knob("the seeds of every table row (and of the several teachers)"),
    "teacher_epochs": epochs_knob("epochs of the MNIST LeNet-5 teacher (NT-1 keeps its testbed's)"),
    "student_epochs": epochs_knob("epochs of every student (NT-1 keeps its testbed's)"),
    "subset": subset_knob(),
    "alphas": Knob("floats", "the α grid of the noisy teacher (share of perturbed samples)", 0.0, 1.0),
    "sigmas": Knob("floats", "the σ grid of the noise", 1e-6, 10.0),
    "student_alphas": Knob("floats", "the α grid of the noisy student", 0.0, 1.0),
    "nt1_seeds": seeds_knob("the seeds of NT-1's table (MNIST at 1,000 training images; seeds 0-1 are its pilot)"),
}


def check(profile) -> None:
    """The page reads MNIST, the paper's dataset, then at least one dataset beyond it, each with a teacher."""
    names = budget(profile)["datasets"]
    if len(names) < 2 or names[0] != "mnist":  # the knob has already refused repeated names
        raise ValueError(f"parameter datasets={list(names)!r} is not allowed; the page takes MNIST first, then "
                         f"other datasets, e.g. ['mnist', 'fashion_mnist']")
    for dataset in names[1:]:
        teachers(profile, dataset)  # a dataset without a teacher at this profile names the one there is


# The L2 loss on logits has gradients about ‖z‖ times larger than CE's, so its rates are ten times smaller.
LEARNING_RATES = {"ce": (0.01, 0.03, 0.1), "l2": (0.001, 0.003, 0.01)}
# MNIST, the one dataset of the paper that is here, gets five seeds (so that the minimum detectable effect is small
# enough to see a relative error reduction of the size reported for MNIST) and a grid that goes two steps beyond
# the rates its first pilots chose (the top of the grid above, for CE and for L2 alike).
MNIST_LEARNING_RATES = {"ce": (0.01, 0.03, 0.1, 0.3, 1.0), "l2": (0.001, 0.003, 0.01, 0.03, 0.1)}
_BUDGETS = {
    "smoke": dict(seeds=(0,), datasets=("mnist", "fashion_mnist"), teacher_epochs=1, student_epochs=1, subset=512,
                  alphas=(0.5, 1.0), sigmas=(0.1, 0.8), student_alphas=(1.0,),
                  learning_rates={"ce": (0.01, 0.1), "l2": (0.001, 0.01)}, nt1_seeds=(0, 1)),
    "cpu": dict(seeds=(0, 1, 2), datasets=("mnist", "fashion_mnist"), teacher_epochs=20, student_epochs=20,
                subset=None, alphas=(0.2, 0.4, 0.6, 0.8, 1.0), sigmas=(0.1, 0.2, 0.4, 0.8, 1.6),
                student_alphas=(0.4, 1.0), learning_rates=LEARNING_RATES,
                per_dataset={"mnist": dict(seeds=(0, 1, 2, 3, 4), learning_rates=MNIST_LEARNING_RATES)},
                nt1_seeds=tuple(range(10))),
    "paper": dict(seeds=(0, 1, 2), datasets=("mnist", "svhn", "cifar10"), teacher_epochs=60, student_epochs=100,
                  subset=None, alphas=(0.2, 0.4, 0.6, 0.8, 1.0), sigmas=(0.1, 0.2, 0.4, 0.8, 1.6),
                  student_alphas=(0.4, 1.0), learning_rates=LEARNING_RATES,
                  per_dataset={"mnist": dict(seeds=(0, 1, 2, 3, 4), learning_rates=MNIST_LEARNING_RATES)},
                  nt1_seeds=()),  # NT-1 is this book's testbed, not a paper's recipe
}
STUDENT = "mlp_2x100"
DROPOUT_STUDENTS = ("mlp_2x100_drop20", "mlp_2x100_drop50")
SEVERAL_TEACHERS = "several teachers"  # the table row whose students learn from every seed's teacher


def budget(profile, dataset: str | None = None) -> dict:
    """The profile's budget; for ``dataset``, with that dataset's own settings (``per_dataset``) applied, and a
    reader's changes over both."""
    return profile_budget(_BUDGETS, profile, (CHAPTER,), dataset)


def datasets(profile: str) -> tuple[str, ...]:
    """Every dataset the chapter's runs read (the CLI checks them all before the first run)."""
    return tuple(budget(profile)["datasets"])


def teachers(profile: str, dataset: str) -> list[RunSpec]:
    """One teacher per seed; seed 0 teaches every student, all of them teach the multiple-teacher students."""
    b = budget(profile, dataset)
    if dataset == "mnist":
        first = RunSpec("mnist", "lenet5", epochs=b["teacher_epochs"], lr=0.05, subset=b["subset"])
    elif dataset in ("fashion_mnist", "cifar10"):
        first = introduction.image_runs(profile)["teacher"]  # shared with the introduction
        if first.dataset != dataset:
            raise ValueError(f"parameter datasets: profile {profile_name(profile)!r} has no {dataset} teacher (the "
                             f"introduction's is on {first.dataset}); choose {first.dataset} or svhn")
    elif dataset == "svhn":  # the introduction's paper recipe; no flips for digits
        first = introduction.image_runs(profile)["teacher"].replace(dataset="svhn", augment="shift2")
    else:
        raise ValueError(f"the noisy-teachers chapter has no teacher for {dataset!r}")
    return [first.replace(seed=seed) for seed in b["seeds"]]


def _student(profile: str, dataset: str, lr: float, **changes) -> RunSpec:
    b = budget(profile, dataset)
    return RunSpec(dataset, STUDENT, epochs=b["student_epochs"], lr=lr, schedule="warmup_cosine",
                   subset=b["subset"]).replace(**changes)


def lr_pilots(profile: str, dataset: str) -> dict[str, dict[float, RunSpec]]:
    """Seed-0 students at each learning rate, on labels (CE) and regressing the teacher's logits (L2)."""
    teacher = teachers(profile, dataset)[0]
    rates = budget(profile, dataset)["learning_rates"]
    return {"ce": {lr: _student(profile, dataset, lr) for lr in rates["ce"]},
            "l2": {lr: _student(profile, dataset, lr, method="logit_regression", teacher=teacher)
                   for lr in rates["l2"]}}


def record(spec: RunSpec, train_missing: bool = True, device=None) -> dict:
    """A run's record; a run that diverges is stored as such (a sweep result, not an error)."""
    return get_or_train(spec, train_missing, device, "line", keep_divergence=True)


def grid_edges(result: dict) -> list[str]:
    """The families (``"ce"``, ``"l2"``) whose chosen learning rate is the largest or the smallest of its grid: a
    choice there says the best rate may lie beyond the grid."""
    return [family for family, pilots in result["pilots"].items()
            if result["learning_rates"][family] in (min(pilots), max(pilots))]


def sweeps(profile: str, dataset: str, l2_rate: float) -> dict[str, dict]:
    """Stage 2 (seed 0), at the logit-regression rate chosen on validation: the noisy teacher on α × σ, the noisy
    student on its α values × σ, dropout rates × learning rates."""
    b = budget(profile, dataset)
    teacher = teachers(profile, dataset)[0]
    regression = _student(profile, dataset, l2_rate, method="logit_regression", teacher=teacher)
    return sweep_grids(regression, b, b["learning_rates"]["l2"])


def sweep_grids(regression: RunSpec, b: dict, dropout_rates) -> dict[str, dict]:
    """Seed 0's sweeps around a plain logit-regression run: the noisy teacher on α × σ and the noisy student on its
    α values × σ (``b``'s grids), and the dropout students at each of ``dropout_rates``."""
    def noisy(method, alpha, sigma):
        return regression.replace(method=method, method_params=(("alpha", alpha), ("sigma", sigma)))

    return {"noisy_teacher": {(a, s): noisy("noisy_teacher", a, s) for a in b["alphas"] for s in b["sigmas"]},
            "noisy_student": {(a, s): noisy("noisy_student", a, s) for a in b["student_alphas"] for s in b["sigmas"]},
            # dropout changes how large a step the student tolerates, so its rate is chosen with its learning rate
            "dropout": {(model, rate): regression.replace(model=model, lr=rate) for model in DROPOUT_STUDENTS
                        for rate in dropout_rates}}


def table_runs(profile: str, dataset: str, rates: dict[str, float], best: dict[str, RunSpec]
               ) -> dict[str, list[RunSpec]]:
    """Stage 3: every row of the chapter's baseline table, one spec per seed, at the learning rates (``rates``:
    family → rate) and sweep settings (``best``: sweep → its chosen run) chosen on validation."""
    seeds = budget(profile, dataset)["seeds"]
    all_teachers = teachers(profile, dataset)
    regression = _student(profile, dataset, rates["l2"], method="logit_regression", teacher=all_teachers[0])
    per_sample = best["noisy_teacher"].replace(
        method_params=(*best["noisy_teacher"].method_params, ("per_sample", 1.0)))
    rows = {"student on labels": _student(profile, dataset, rates["ce"]),
            "logit regression": regression,
            "noisy teacher": best["noisy_teacher"],
            "noisy teacher, one ξ per sample": per_sample,
            "noisy student": best["noisy_student"],
            "student dropout": best["dropout"],
            SEVERAL_TEACHERS: regression.replace(extra_teachers=tuple(all_teachers[1:]))}
    return {label: [spec.replace(seed=seed) for seed in seeds] for label, spec in rows.items()}


def plan(profile, choose: Choose) -> dict:
    """What the chapter trains, every dataset and NT-1 together: the learning rates of the student on labels and of
    logit regression (seed 0; every teacher trains beside them), then at the chosen L2 rate the sweeps of the noisy
    teacher, the noisy student and dropout, then every table row at the sweeps' choices."""
    names = budget(profile)["datasets"]
    pilots = {dataset: lr_pilots(profile, dataset) for dataset in names}
    nt1_grids, nt1_beside = nt1_choices(profile)
    rates = choose.each({**{f"{dataset} {family} learning rate": grid for dataset in names
                            for family, grid in pilots[dataset].items()}, **nt1_grids},
                        alongside=[*[spec for dataset in names for spec in teachers(profile, dataset)], *nt1_beside])
    chosen_rates = {dataset: {family: rates[f"{dataset} {family} learning rate"] for family in pilots[dataset]}
                    for dataset in names}
    grids = {dataset: sweeps(profile, dataset, chosen_rates[dataset]["l2"]) for dataset in names}
    nt1_sweep_grids = nt1_sweeps(profile, rates)
    picks = choose.each({**{f"{dataset} {name}": grid for dataset in names for name, grid in grids[dataset].items()},
                         **nt1_sweep_grids})
    return {"testbeds": nt1_plan(profile, {**rates, **picks}, nt1_sweep_grids), "datasets": {dataset: {
        "dataset": dataset, "teachers": teachers(profile, dataset), "pilots": pilots[dataset],
        "learning_rates": chosen_rates[dataset], "sweeps": grids[dataset],
        "table": table_runs(profile, dataset, chosen_rates[dataset],
                            {name: grid[picks[f"{dataset} {name}"]] for name, grid in grids[dataset].items()})}
        for dataset in names}}


def stages(profile: str, device=None) -> list:
    """Teachers and learning-rate pilots, then the sweeps, then the table (derived from ``plan``: two dependent
    choices, so three stages)."""
    return plan_stages(plan, profile, depth=3)


# --- the records of the page, and its claims ----------------------------------------------------------------------

NAMES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST (stand-in for SVHN and CIFAR-10)", "svhn": "SVHN",
         "cifar10": "CIFAR-10", "NT-1": "MNIST, 1,000 training images (NT-1)"}
PAPER_SETTINGS = {"mnist": "MNIST; architectures and recipe not stated",
                  "fashion_mnist": "SVHN and CIFAR-10; architectures and recipe not stated",
                  "svhn": "SVHN; architectures and recipe not stated",
                  "cifar10": "CIFAR-10; architectures and recipe not stated"}
MODEL_NAMES = {"lenet5": "LeNet-5", "resnet20": "ResNet-20", STUDENT: "MLP 2×100"}
_IMAGE_SHAPES = {"mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28), "svhn": (3, 32, 32), "cifar10": (3, 32, 32)}

# C4 "one noisy teacher stands in for several real teachers": the two students must agree within this many points
# of test accuracy. About a sixth of the teacher–student gap of this book's cpu runs (under one point on MNIST,
# three to four on Fashion-MNIST; the margin was set from those gaps, not from the C4 comparison): several teachers
# are claimed to close more of that gap, and a sixth of it is a difference one would act on. SVHN and CIFAR-10
# (``paper`` profile, not run) take the Fashion-MNIST value until their gaps are known.
MATCH_MARGIN = {"mnist": 0.1, "fashion_mnist": 0.5, "svhn": 0.5, "cifar10": 0.5}


def inference_costs(profile: str, dataset: str) -> dict[str, dict]:
    """Parameters and multiply-accumulates per image of the teacher and the student: counted on freshly built models
    (neither depends on the weights' values), so they are the same on every machine."""
    shape = _IMAGE_SHAPES[dataset]
    costs = {}
    for role, model in (("teacher", teachers(profile, dataset)[0].model), ("student", STUDENT)):
        network = build_model(model, shape, n_classes(dataset))
        costs[role] = {"model": model, "parameters": count_parameters(network),
                       "multiply-accumulates": multiply_accumulates(network, shape)}
    return costs


def results(profile: str, train_missing: bool = True, device=None) -> dict:
    """Every record of the page: ``{"profile": ..., "testbeds": {"NT-1": {...}}, "datasets": {dataset: {...}}}``,
    each dataset and testbed with its teachers, pilots, chosen learning rates, sweeps, table rows and inference
    costs."""
    found = load_plan(plan, profile, lambda spec: record(spec, train_missing, device))
    for result in (*found["datasets"].values(), *found["testbeds"].values()):
        result["costs"] = inference_costs(profile, result["dataset"])
    return {"profile": profile, **found}


def _accuracy(record_: dict, metric: str = "test_acc") -> float:
    """A run's accuracy in points; a run that diverged counts at chance level, the best it could have done."""
    value = record_["metrics"].get(metric)
    return 100.0 / n_classes(record_["spec"]["dataset"]) if value is None else value * 100


def sigma_extremes(result: dict, metric: str = "test_acc") -> dict:
    """Seed 0's noisy-teacher sweep at the smallest and the largest σ of the grid, one value per α (points)."""
    sweep = result["sweeps"]["noisy_teacher"]
    alphas = sorted({alpha for alpha, _ in sweep})
    sigmas = sorted({sigma for _, sigma in sweep})
    return {"alphas": alphas, "smallest σ": sigmas[0], "largest σ": sigmas[-1],
            "at smallest σ": np.array([_accuracy(sweep[(a, sigmas[0])], metric) for a in alphas]),
            "at largest σ": np.array([_accuracy(sweep[(a, sigmas[-1])], metric) for a in alphas])}


def gap_summary(result: dict) -> dict:
    """The teacher–student gap (seed-0 teacher against plain logit regression, test accuracy, points) and the α and
    σ that validation chose for the noisy teacher."""
    teacher = _accuracy(result["teachers"][0])
    regression = float(np.nanmean(claimlib.points(result["table"]["logit regression"])))
    chosen = dict(result["table"]["noisy teacher"][0]["spec"]["method_params"])
    return {"teacher": teacher, "logit regression": regression, "gap": teacher - regression,
            "alpha": chosen["alpha"], "sigma": chosen["sigma"]}


def _setting(result: dict) -> claimlib.Setting:
    spec = result["table"]["logit regression"][0]["spec"]
    teacher = result["teachers"][0]["spec"]["model"]
    seeds = len(result["table"]["logit regression"])
    images = f" of {spec['train_size']:,} images" if spec.get("train_size") else ""
    return claimlib.Setting(result.get("name", NAMES[result["dataset"]]),
                            f"{MODEL_NAMES.get(teacher, teacher)} → {MODEL_NAMES.get(spec['model'], spec['model'])}",
                            f"{spec['epochs']} student epochs{images}, {seeds} seed{'s' if seeds != 1 else ''} "
                            f"(paper: not stated)")


def controls(result: dict) -> dict[str, stats.Comparison]:
    """The two positive controls of a setting: ``"teacher"`` minus the student on labels (a testbed with a teacher
    per seed: seed-matched; otherwise the seed-0 teacher, which teaches every student of C1 and C3: its one number
    against our seeds, ``claims.one_run_against``) and ``"logit regression"`` (plain logit regression minus the
    student on labels, seed-matched)."""
    table = result["table"]
    if result.get("per_seed_teachers"):
        return {"teacher": claimlib.compare("teacher − student on labels", result["teachers"],
                                            table["student on labels"]),
                "logit regression": claimlib.compare("logit regression − student on labels",
                                                     table["logit regression"], table["student on labels"])}
    return {"teacher": claimlib.one_run_against("teacher (seed 0) − student on labels",
                                                _accuracy(result["teachers"][0]), table["student on labels"]),
            "logit regression": claimlib.compare("logit regression − student on labels", table["logit regression"],
                                                 table["student on labels"])}


def preconditions(result: dict) -> tuple[claimlib.Precondition, ...]:
    """What a claim about learning from the teacher's logits needs in this setting: a teacher better than the
    student alone, and plain logit regression better than the student on labels (the positive control that the
    teacher's logits help at all; without it, noise on them has nothing to improve)."""
    found = controls(result)
    return (claimlib.control("the teacher beats the student on labels", found["teacher"]),
            claimlib.control("plain logit regression beats the student on labels", found["logit regression"]))


def _c2_noise(result: dict, setting: claimlib.Setting) -> claimlib.Claim:
    """A measurement on seed 0's sweep, not a test: the α values of one seed are not replicates, and at the largest
    σ the runs collapse or diverge, so an interval over them would describe no seed-to-seed variation."""
    ends = sigma_extremes(result)
    lower = ends["at largest σ"] < ends["at smallest σ"]
    chance = 150.0 / n_classes(result["dataset"])
    collapsed = int((ends["at largest σ"] < chance).sum())
    pairs = ", ".join(f"α = {a:g}: {hi:.1f} vs {lo:.1f}"
                      for a, hi, lo in zip(ends["alphas"], ends["at largest σ"], ends["at smallest σ"]))
    return claimlib.Claim(
        "C2", CHAPTER, "too much noise hurts: at the learning rate chosen for plain regression, the largest σ of "
        "the grid gives a lower accuracy than the smallest, at every α",
        PAPER_SETTINGS[result["dataset"]], setting, basis="measurement",
        holds=True if lower.all() else (False if not lower.any() else None),
        note=(f"seed 0's sweep, test accuracy at σ = {ends['largest σ']:g} against σ = {ends['smallest σ']:g} "
              f"({pairs}); {collapsed} of {len(lower)} cells at the largest σ ended below 1.5 × chance (collapsed "
              f"or diverged, counted at chance), so this is a statement about training failing at that step size, "
              f"with no spread over seeds"))


def _c2_gap(found: dict) -> claimlib.Claim:
    summaries = {dataset: gap_summary(result) for dataset, result in found.items()}
    chosen = "; ".join(f"{found[key].get('name', NAMES[found[key]['dataset']]).split(' (')[0]}: α = {s['alpha']:g} "
                       f"at a gap of {s['gap']:.2f} points" for key, s in summaries.items())
    settings = [_setting(result) for result in found.values()]
    budgets = sorted({setting.budget for setting in settings})
    return claimlib.Claim(
        "C2", CHAPTER, "the best α depends on the teacher–student gap", "MNIST, SVHN and CIFAR-10",
        claimlib.Setting(" and ".join(setting.dataset for setting in settings),
                         "; ".join(setting.model for setting in settings), "; ".join(budgets)),
        basis="measurement", holds=None,
        note=(f"{len(found)} dataset{'s' if len(found) != 1 else ''} give{'' if len(found) != 1 else 's'} "
              f"{len(found)} gap{'s' if len(found) != 1 else ''}, too few to show how the best α moves with the "
              f"gap; α chosen on validation (seed 0): {chosen}"))


def _c4_derivation() -> claimlib.Claim:
    return claimlib.Claim(
        "C4", CHAPTER, "the perturbation is \"a noise-based regularizer while training the student from the teacher\" "
        "(the paper's abstract)", "the paper's derivation (not read for this book)",
        claimlib.Setting("any (a derivation; checked by Monte-Carlo on MNIST teacher logits)",
                         "L2 logit regression", "–"),
        basis="derivation", holds=None,
        note=("what the noise is, derived: E_ξ ½‖s − (1+ξ)⊙z‖² = ½‖s − z‖² + ½ασ²‖z‖², whose extra term does not "
              "depend on the student: in expectation no penalty on the student is added (noise on the student, by "
              "contrast, adds ½ασ²‖s‖²), and the noise adds gradient variance. Whether that variance regularises, as "
              "SGD noise can, is not something a derivation decides, and the paper's own argument could not be read"))


def _c5(result: dict, setting: claimlib.Setting) -> claimlib.Claim:
    """C5 is a property of the student chosen, not of the method: it holds by construction for a student smaller
    than its teacher, so a setting whose student is not smaller cannot test it (untestable, never contradicted)."""
    teacher, student = result["costs"]["teacher"], result["costs"]["student"]
    size = student["parameters"] / teacher["parameters"]
    work = student["multiply-accumulates"] / teacher["multiply-accumulates"]
    counts = (f"counted, not timed: the student has {student['parameters']:,} parameters and "
              f"{student['multiply-accumulates']:,} multiply-accumulates, {size:.2g}× and {work:.2g}× the "
              f"{MODEL_NAMES.get(teacher['model'], teacher['model'])} teacher's ({teacher['parameters']:,} and "
              f"{teacher['multiply-accumulates']:,})")
    premise = claimlib.Precondition("the book's student is smaller than its teacher in parameters and in "
                                    "multiply-accumulates (the claim's premise: a shallow student)",
                                    bool(size < 1 and work < 1), counts)
    return claimlib.Claim(
        "C5", CHAPTER, "the student keeps a shallow model's savings: fewer parameters (storage) and fewer "
        "multiply-accumulates per image (run time) than its teacher",
        PAPER_SETTINGS[result["dataset"]], setting, basis="measurement", holds=bool(size < 1 and work < 1),
        preconditions=(premise,), note=counts)


def claims(results: dict) -> list[claimlib.Claim]:
    """C1–C5 of the chapter, one claim per dataset (the C4 derivation and the C2 question about the gap span all),
    Holm-adjusted within the chapter (the paper's family)."""
    found = results["datasets"]
    testbeds = results.get("testbeds", {})
    by_claim: dict[str, list[claimlib.Claim]] = {key: [] for key in ("C1", "C2", "C3", "C4", "C5")}
    for result in (*found.values(), *testbeds.values()):
        table, setting, needs = result["table"], _setting(result), preconditions(result)
        paper = PAPER_SETTINGS[result["dataset"]]
        testbed = "testbed" in result  # NT-1: its SESOI and margin were fixed for its own accuracy and gap
        sesoi = dict(zip(("sesoi", "sesoi_reason"), NT1_SESOI)) if testbed else {}
        margin = NT1_MATCH_MARGIN if testbed else MATCH_MARGIN[result["dataset"]]
        by_claim["C1"].append(claimlib.Claim(
            "C1", CHAPTER, "the noisy teacher beats plain logit regression", paper, setting, expect="higher",
            comparisons=(claimlib.compare("noisy teacher − logit regression", table["noisy teacher"],
                                          table["logit regression"]),),
            preconditions=needs, **sesoi))
        by_claim["C2"].append(_c2_noise(result, setting))
        by_claim["C3"].append(claimlib.Claim(
            "C3", CHAPTER, "noise on the teacher beats the same noise on the student, and dropout in the student",
            paper, setting, expect="higher",
            comparisons=(claimlib.compare("noisy teacher − noisy student", table["noisy teacher"],
                                          table["noisy student"]),
                         claimlib.compare("noisy teacher − student dropout", table["noisy teacher"],
                                          table["student dropout"])),
            preconditions=needs, **sesoi))
        by_claim["C4"].append(claimlib.Claim(
            "C4", CHAPTER, "one noisy teacher stands in for several real teachers", paper, setting,
            expect="matches",
            comparisons=(claimlib.compare(f"noisy teacher − {SEVERAL_TEACHERS}", table["noisy teacher"],
                                          table[SEVERAL_TEACHERS], margin=margin),),
            # matching several teachers means something only where several teachers beat one
            preconditions=(*needs, claimlib.control(
                "several real teachers beat one (plain logit regression)",
                claimlib.compare(f"{SEVERAL_TEACHERS} − logit regression", table[SEVERAL_TEACHERS],
                                 table["logit regression"])))))
        if not testbed:  # C5 is a property of the two networks, which NT-1 shares with the MNIST setting
            by_claim["C5"].append(_c5(result, setting))
    by_claim["C2"].append(_c2_gap({**found, **testbeds}))
    by_claim["C4"].insert(0, _c4_derivation())
    return claimlib.adjust([claim for key in by_claim for claim in by_claim[key]])


# --- the page's tables, figures and glued numbers (functions of the records, tested on hand-made ones) -------------
# Records hold fractions; every table below shows points, formatted at the precision their spread supports, with its
# key as a column (pages show tables without an index: ``report.shown``) and its grids sorted by their numeric key.

PILOT_FAMILIES = (("ce", "student on labels (CE)"), ("l2", "logit regression (L2)"))
CURVE_ROWS = ("student on labels", "logit regression", "noisy teacher", "noisy student", SEVERAL_TEACHERS)
_BASELINE_COLUMNS = ("method", "test accuracy (%)", "test errors (per 10,000)",
                     "Δ vs logit regression (points) [95 % CI]", "relative error reduction (%)",
                     "relative accuracy gain (%)", "setting", "run ids")
_COST_FORMATS = {"parameters": "{:,.0f}", "multiply-accumulates": "{:,.0f}", "weights on disk (KiB)": "{:.0f}",
                 "latency, batch 1 (ms)": "{:.3f}", "latency, batch 256 (ms)": "{:.2f}"}


def short_name(dataset: str) -> str:
    """A dataset's name without the parenthesis: "Fashion-MNIST", not "Fashion-MNIST (stand-in for …)"."""
    return NAMES.get(dataset, dataset).split(" (")[0]


def _mean_std(records: list[dict]) -> str:
    """Test accuracy over seeds, "mean ± std" in points (a diverged run is left out and counted)."""
    from kdlib.report import mean_std
    return mean_std(claimlib.points(records), scale=1)


def run_setting(spec: dict) -> str:
    """What a run trained, as the baseline table's "setting" cell says it: model; method knobs; teachers; lr."""
    from kdlib.methods import describe_params
    params = describe_params(spec["method"], spec["method_params"])
    extra = f"{1 + len(spec['extra_teachers'])} teachers" if spec.get("extra_teachers") else ""
    return "; ".join(part for part in (spec["model"], params, extra, f"lr={spec['lr']:g}") if part)


def setup_specs(result: dict) -> dict[str, RunSpec]:
    """The three runs the setup table describes (for ``report.setup_table``), read back from their records: the
    seed-0 teacher, the student on labels and the chosen noisy teacher (seed 0)."""
    label = "MNIST teacher" if result["dataset"] == "mnist" else f"{short_name(result['dataset'])} teacher"
    return {label: RunSpec.from_dict(result["teachers"][0]["spec"]),
            "student on labels": RunSpec.from_dict(result["table"]["student on labels"][0]["spec"]),
            "noisy teacher (chosen)": RunSpec.from_dict(result["table"]["noisy teacher"][0]["spec"])}


def pilot_table(result: dict):
    """The learning-rate pilots (seed 0): final validation accuracy (%) per rate, ascending, for CE and for L2; the
    rate validation chose is marked "← chosen", a diverged run says so, and "–" marks a rate not in that grid."""
    import pandas as pd

    rates = sorted({lr for family, _ in PILOT_FAMILIES for lr in result["pilots"][family]})
    rows = []
    for lr in rates:
        row = {"learning rate": f"{lr:g}"}
        for family, label in PILOT_FAMILIES:
            record_ = result["pilots"][family].get(lr)
            value = None if record_ is None else record_["metrics"]["val_acc"]
            chosen = " ← chosen" if lr == result["learning_rates"][family] else ""
            row[label] = "–" if record_ is None else ("diverged" if value is None else f"{value * 100:.2f}{chosen}")
        rows.append(row)
    return pd.DataFrame(rows, columns=["learning rate", *(label for _, label in PILOT_FAMILIES)])


def baseline_table(result: dict):
    """The teacher (seed 0, or one per seed where each student seed has its own), then every row of the chapter's
    table: test accuracy (mean ± std over seeds, points),
    test errors per 10,000 images, and, against plain logit regression, Δ with its 95 % interval and test, the
    relative error reduction and the relative accuracy gain; then the row's setting and all its run ids."""
    import pandas as pd

    reference = claimlib.points(result["table"]["logit regression"])
    per_seed = result.get("per_seed_teachers", False)
    teachers_ = result["teachers"] if per_seed else result["teachers"][:1]
    rows = [{"method": "teacher (one per seed)" if per_seed else "teacher (seed 0)",
             "test accuracy (%)": _mean_std(teachers_), "setting": run_setting(teachers_[0]["spec"]),
             "run ids": " ".join(record_["id"] for record_ in teachers_)}]
    for label, records in result["table"].items():
        accuracy = claimlib.points(records)
        row = {"method": label, "test accuracy (%)": _mean_std(records),
               "test errors (per 10,000)": f"{np.nanmean(100 - accuracy) * 100:.0f}",
               "setting": run_setting(records[0]["spec"]), "run ids": " ".join(r["id"] for r in records)}
        if label != "logit regression":
            comparison = claimlib.compare(label, records, result["table"]["logit regression"])
            base_error, error = np.nanmean(100 - reference), np.nanmean(100 - accuracy)
            delta = np.nanmean(accuracy) - np.nanmean(reference)
            row.update({"Δ vs logit regression (points) [95 % CI]": f"{comparison.text()} ({comparison.test})",
                        "relative error reduction (%)": f"{(base_error - error) / base_error * 100:+.1f}",
                        "relative accuracy gain (%)": f"{delta / np.nanmean(reference) * 100:+.2f}"})
        rows.append(row)
    return pd.DataFrame(rows).reindex(columns=list(_BASELINE_COLUMNS)).fillna("")


def sweep_frame(result: dict, name: str):
    """One row per (α, σ) cell of seed 0's sweep ``name`` and split ("val", "test"), sorted by α then σ: accuracy
    (points), its difference from plain logit regression (seed 0), the run's status ("ok", "diverged", "collapsed"),
    the value a heatmap colours (``shown``: NaN unless ok) and the cell's label. A diverged run counts at chance
    level, the best it could have done."""
    import pandas as pd

    from kdlib.report import collapsed

    regression = result["table"]["logit regression"][0]["metrics"]
    classes = n_classes(result["dataset"])
    cells = []
    for (alpha, sigma), record_ in sorted(result["sweeps"][name].items()):
        metrics = record_["metrics"]
        status = ("diverged" if metrics.get("diverged") else
                  "collapsed" if collapsed([record_], classes) else "ok")
        for split in ("val", "test"):
            value = metrics[f"{split}_acc"]
            accuracy = 100.0 / classes if value is None else value * 100
            delta = accuracy - regression[f"{split}_acc"] * 100
            label = {"ok": f"{accuracy:.2f}\n({delta:+.2f})", "diverged": "diverged",
                     "collapsed": f"collapsed\n({accuracy:.1f})"}[status]
            cells.append({"split": split, "α": alpha, "σ": sigma, "status": status, "accuracy": accuracy,
                          "delta": delta, "shown": delta if status == "ok" else np.nan, "label": label})
    return pd.DataFrame(cells)


def _grid(part, values: str):
    """``part`` pivoted to α rows × σ columns, both ascending, their labels printed as "0.1" (not "0.100000")."""
    grid = part.pivot(index="α", columns="σ", values=values).sort_index().sort_index(axis=1)
    grid.index = [f"{alpha:g}" for alpha in grid.index]
    grid.columns = [f"{sigma:g}" for sigma in grid.columns]
    return grid.rename_axis(index="α", columns="σ")


def sweep_heatmaps(result: dict, name: str, title: str):
    """Seed 0's sweep ``name`` as two maps, validation (which chose) and test (reported only): colour is the
    difference from plain logit regression, the label the accuracy with that difference; diverged and collapsed
    cells are uncoloured and say so. Returns the figure."""
    import matplotlib.pyplot as plt

    from kdlib.report import heatmap

    frame = sweep_frame(result, name)
    figure, axes = plt.subplots(1, 2, figsize=(13, 1.6 + 0.75 * frame["α"].nunique()))
    for ax, split, caption in zip(axes, ("val", "test"), ("validation (selects)", "test (reported only)")):
        part = frame[frame["split"] == split]
        heatmap(_grid(part, "shown"), "Δ vs logit regression (points)", annotation=_grid(part, "label"), ax=ax)
        ax.set_title(f"{title}: {caption}")
    figure.tight_layout()
    return figure


def learning_curve_figure(found: dict):
    """Test accuracy per epoch of the main rows (``CURVE_ROWS``), one panel per dataset: mean over seeds with a
    one-standard-deviation band. Returns the figure."""
    import matplotlib.pyplot as plt

    from kdlib.report import learning_curves

    figure, axes = plt.subplots(1, len(found), figsize=(6.5 * len(found), 3.6))
    for ax, (dataset, result) in zip(np.atleast_1d(axes), found.items()):
        learning_curves({label: [r for r in result["table"][label] if r["history"]] for label in CURVE_ROWS}, ax=ax)
        ax.set_title(short_name(dataset))
    figure.tight_layout()
    return figure


def gap_table(found: dict):
    """C2 per dataset: the teacher–student gap (``gap_summary``), the α and σ validation chose, how many cells of
    the validation sweep collapsed or diverged, and seed 0's test accuracy at the smallest and the largest σ,
    averaged over α (a diverged run at chance level)."""
    import pandas as pd

    rows = []
    for dataset, result in found.items():
        gap, ends = gap_summary(result), sigma_extremes(result)
        frame = sweep_frame(result, "noisy_teacher")
        val = frame[frame["split"] == "val"]
        rows.append({"dataset": short_name(dataset), "teacher, seed 0 (%)": f"{gap['teacher']:.2f}",
                     "logit regression (%)": f"{gap['logit regression']:.2f}", "gap (points)": f"{gap['gap']:.2f}",
                     "chosen α": f"{gap['alpha']:g}", "chosen σ": f"{gap['sigma']:g}",
                     "cells collapsed or diverged": int((val["status"] != "ok").sum()),
                     f"test acc. at σ = {ends['smallest σ']:g} (%)": f"{ends['at smallest σ'].mean():.2f}",
                     f"test acc. at σ = {ends['largest σ']:g} (%)": f"{ends['at largest σ'].mean():.2f}"})
    return pd.DataFrame(rows).fillna("–")


def ensemble_table(found: dict):
    """C4 per dataset: the teachers, plain logit regression from teacher 0, the noisy teacher 0 and the students of
    several teachers (test accuracy, mean ± std over seeds, points)."""
    import pandas as pd

    return pd.DataFrame([{"dataset": short_name(dataset), "the teachers (%)": _mean_std(result["teachers"]),
                          "logit regression, teacher 0 (%)": _mean_std(result["table"]["logit regression"]),
                          "noisy teacher 0 (%)": _mean_std(result["table"]["noisy teacher"]),
                          f"{SEVERAL_TEACHERS}, one drawn per row (%)": _mean_std(result["table"][SEVERAL_TEACHERS])}
                         for dataset, result in found.items()])


def cost_table(found: dict, repeats: int = 30):
    """C5 per dataset and role: the counted multiply-accumulates (from the records' ``costs``), and what
    ``benchmark.inference_cost`` measures on a freshly built model now (parameters, saved weights, median CPU latency
    of one image and of a batch of 256 over ``repeats`` forward passes). The latencies illustrate only."""
    import pandas as pd

    from kdlib.benchmark import inference_cost

    rows = []
    for dataset, result in found.items():
        shape = _IMAGE_SHAPES[dataset]
        for role in ("teacher", "student"):
            counted = result["costs"][role]
            cost = inference_cost(build_model(counted["model"], shape, n_classes(dataset)), shape, repeats=repeats)
            rows.append({"dataset": short_name(dataset), "role": role, "model": counted["model"],
                         "multiply-accumulates": counted["multiply-accumulates"], **cost})
    frame = pd.DataFrame(rows)
    for column, form in _COST_FORMATS.items():
        frame[column] = frame[column].map(form.format)
    return frame


def chapter_claim(found_claims: list, claim_id: str, dataset: str, statement_start: str = "") -> claimlib.Claim:
    """This chapter's claim ``claim_id`` in ``dataset`` (a dataset key, e.g. "mnist") whose statement starts with
    ``statement_start``; exactly one must match."""
    matches = [claim for claim in found_claims if claim.chapter == CHAPTER and claim.id == claim_id
               and claim.setting.dataset == NAMES[dataset] and claim.statement.startswith(statement_start)]
    if len(matches) != 1:
        raise LookupError(f"{len(matches)} claims {claim_id} of {CHAPTER} on {dataset} start with "
                          f"{statement_start!r}; expected one")
    return matches[0]


def page_numbers(found: dict, book_claims: list) -> dict:
    """Every number and phrase the page glues into its prose (glue name → value), from the records of its datasets
    (MNIST first, then the one beyond it: ``mnist_*`` and ``other_*``) and the book's claims (this chapter's are
    picked out). ``threads`` is this process's torch CPU threads, which the cost table's latencies ran with."""
    import torch

    from kdlib.report import collapsed, records_in

    first, other = list(found)[:2]
    students = [r for r in records_in(found) if r["spec"]["model"].startswith("mlp")]
    numbers = {"student_minutes": sum(r["provenance"]["wall_time_s"] for r in students if "provenance" in r) / 60}
    mnist = found[first]
    l2_rate = mnist["learning_rates"]["l2"]
    dropout = [record_ for (_, lr), record_ in mnist["sweeps"]["dropout"].items() if lr == l2_rate]
    numbers["mnist_dropout_failed"] = sum(bool(r["metrics"].get("diverged")) or collapsed([r]) > 0 for r in dropout)
    numbers["mnist_dropout_n"] = len(dropout)
    edges = grid_edges(mnist)
    numbers["mnist_grid_edges"] = ("none: both chosen rates lie inside their grids" if not edges else
                                   ", ".join({"ce": "cross-entropy", "l2": "L2"}[family] for family in edges)
                                   + " (the best rate may lie beyond the grid)")
    numbers["mnist_margin"] = f"{MATCH_MARGIN[first]:g}"
    numbers["other_margin"] = f"{MATCH_MARGIN[other]:g}"
    numbers["threads"] = torch.get_num_threads()
    for key, dataset in (("mnist", first), ("other", other)):
        result, counted = found[dataset], found[dataset]["costs"]
        numbers[f"{key}_size_ratio"] = counted["student"]["parameters"] / counted["teacher"]["parameters"]
        numbers[f"{key}_work_ratio"] = (counted["student"]["multiply-accumulates"]
                                        / counted["teacher"]["multiply-accumulates"])
        c1 = chapter_claim(book_claims, "C1", dataset)
        numbers[f"{key}_c1_effect"] = c1.comparisons[0].text()
        numbers[f"{key}_c1_verdict"] = c1.verdict
        numbers[f"{key}_c2_verdict"] = chapter_claim(book_claims, "C2", dataset, "too much noise").verdict
        numbers[f"{key}_l2_control"] = controls(result)["logit regression"].text()
        holds = next(condition.holds for condition in c1.preconditions if "logit regression" in condition.statement)
        numbers[f"{key}_l2_control_holds"] = "holds" if holds else "does not hold"
        rates = result["learning_rates"]
        numbers[f"{key}_rates"] = f"{rates['l2']:g} for L2 against {rates['ce']:g} for cross-entropy"
    teacher = found[other]["costs"]["teacher"]["model"]
    numbers["other_teacher"] = MODEL_NAMES.get(teacher, teacher)
    return numbers


def identity_numbers(identities) -> dict:
    """The two numbers the page glues from its Monte-Carlo check (``identities``: one row per σ, the columns of the
    demonstration): the largest deviation of a Monte-Carlo loss from its formula (%), and the largest ratio of the
    averaged gradient's deviation from the clean gradient to the sampling error expected."""
    deviation = max((identities["teacher noise: Monte-Carlo"] / identities["teacher noise: clean + σ²‖z‖²/2"]
                     - 1).abs().max(),
                    (identities["student noise: Monte-Carlo"] / identities["student noise: clean + σ²‖s‖²/2"]
                     - 1).abs().max())
    ratio = (identities["gradient: RMS(mean − clean)"] / identities["gradient: RMS sampling error σ|z|/√n"]).max()
    return {"mc_loss_deviation": float(deviation * 100), "mc_gradient_ratio": float(ratio)}


def identity_table(identities):
    """The Monte-Carlo check as the page shows it: σ as written ("0.1"), every other number to four significant
    digits, rows by ascending σ."""
    table = identities.sort_values("σ").reset_index(drop=True)
    return table.apply(lambda column: column.map("{:g}".format if column.name == "σ" else "{:.4g}".format))


# --- the second testbed (NT-1): MNIST at 2,000 training images; its pilot and its gates ------------------------------
# The first edition's setting cannot test C1, C3 or C4: plain logit regression does not beat the student on labels
# there (MNIST +0.07 [−0.02, +0.16] points, Fashion-MNIST −0.42), the MNIST teacher–student gap is 0.85 points, and
# the MNIST student has more parameters than its teacher. NT-1 keeps the paper's dataset and the book's students and
# moves to low data, where published KD gains of a point or more appear (little student data, a teacher regularised
# in ways the student is not): teacher and student train on the same 2,000 images (a fixed draw after the 5,000
# validation images are carved; test is all 10,000); the LeNet-5 teacher gets ±2 px shifts, the student none; the
# student is the chapter's MLP 2×100 (89,610 parameters against LeNet-5's 61,706, so C5's premise still fails on
# MNIST). Logit regression gets a learning-rate grid meant to bracket its optimum, with Adam beside SGD, since SGD at
# the first edition's rates was pinned by divergence.
# The gates and grids below were written before any NT-1 record existed (issue 29); they are never moved.
# NT-1's pilot failed its second gate (logit regression +0.65 points over the student on labels, at the lowest SGD
# rate of its grid). Its fallbacks, in the order the testbed study lists them, were then written before any of their
# records existed, with the same gates: (i) half the data, where the student over-fits more and the teacher's
# labels carry more; (ii) a privileged teacher, trained on all 55,000 training images (the student keeps NT-1's
# 2,000, a subset of the teacher's), so the teacher–student gap is several points. Both extend the regression grid
# downwards, since NT-1's best setting was the lowest rate it tried.
NT1_GATES = (claimlib.Gate("the teacher beats the student on labels", 2.0),
             claimlib.Gate("logit regression beats the student on labels", 1.0))
NT1_PILOT_SEEDS = (0, 1)


@dataclass(frozen=True)
class Testbed:
    """One candidate setting of the chapter's second testbed: the data each model sees, the budgets and the pilot's
    learning-rate grids (``l2_settings`` are (optimiser, rate) pairs for logit regression)."""
    name: str
    why: str
    train_size: int
    teacher_train_size: int | None  # None: every training image left after validation (a privileged teacher)
    teacher_epochs: int
    teacher_eval_every: int
    student_epochs: int
    student_eval_every: int
    ce_rates: tuple
    l2_settings: tuple
    dataset: str = "mnist"
    val_size: int = 5000


LOWER_L2_GRID = (("sgd", 0.0001), ("sgd", 0.0003), ("sgd", 0.001), ("adam", 0.0001), ("adam", 0.0003),
                 ("adam", 0.001))
NT1_TESTBEDS = (
    Testbed("NT-1", "MNIST at 2,000 training images for teacher and student", train_size=2000,
            teacher_train_size=2000, teacher_epochs=150, teacher_eval_every=15, student_epochs=300,
            student_eval_every=30, ce_rates=(0.03, 0.1, 0.3),
            l2_settings=(("sgd", 0.001), ("sgd", 0.003), ("sgd", 0.01), ("adam", 0.0003), ("adam", 0.001))),
    Testbed("NT-1, fallback (i)", "MNIST at 1,000 training images for teacher and student", train_size=1000,
            teacher_train_size=1000, teacher_epochs=300, teacher_eval_every=30, student_epochs=600,
            student_eval_every=60, ce_rates=(0.03, 0.1, 0.3), l2_settings=LOWER_L2_GRID),
    Testbed("NT-1, fallback (ii)", "MNIST at 2,000 training images for the student; a privileged teacher trained "
            "on all 55,000", train_size=2000, teacher_train_size=None, teacher_epochs=20, teacher_eval_every=2,
            student_epochs=300, student_eval_every=30, ce_rates=(0.03, 0.1, 0.3), l2_settings=LOWER_L2_GRID),
)


def nt1_teacher(seed: int, testbed: Testbed = NT1_TESTBEDS[0]) -> RunSpec:
    """LeNet-5 with ±2 px shifts, warm-up and cosine (NT-1: 150 epochs of 2,000 images, about 2,350 steps)."""
    return RunSpec(testbed.dataset, "lenet5", epochs=testbed.teacher_epochs, seed=seed, lr=0.05,
                   schedule="warmup_cosine", augment="shift2", val_size=testbed.val_size,
                   train_size=testbed.teacher_train_size, eval_every=testbed.teacher_eval_every)


def nt1_student(seed: int, lr: float, method: str = "ce", optimizer: str = "sgd", teacher: RunSpec | None = None,
                params: tuple = (), testbed: Testbed = NT1_TESTBEDS[0]) -> RunSpec:
    """The MLP 2×100 without augmentation (NT-1: 300 epochs of 2,000 images, about 4,700 steps)."""
    return RunSpec(testbed.dataset, STUDENT, method, method_params=params, teacher=teacher,
                   epochs=testbed.student_epochs, seed=seed, optimizer=optimizer, lr=lr, schedule="warmup_cosine",
                   weight_decay=0.0 if optimizer == "adam" else 5e-4, val_size=testbed.val_size,
                   train_size=testbed.train_size, eval_every=testbed.student_eval_every)


def nt1_pilot(testbed: Testbed = NT1_TESTBEDS[0]) -> dict:
    """A testbed's pilot runs, seeds 0–1 (reused as the main runs' seeds 0–1 if the gates pass): a teacher per seed,
    the student on labels at each learning rate, and logit regression from teacher seed s at each setting."""
    seeds = NT1_PILOT_SEEDS
    teachers = [nt1_teacher(seed, testbed) for seed in seeds]
    return {"teacher": teachers,
            "student on labels": {lr: [nt1_student(seed, lr, testbed=testbed) for seed in seeds]
                                  for lr in testbed.ce_rates},
            "logit regression": {setting: [nt1_student(seed, setting[1], "logit_regression", setting[0], teacher,
                                                       testbed=testbed)
                                           for seed, teacher in zip(seeds, teachers)]
                                 for setting in testbed.l2_settings}}


def pilot_testbeds() -> tuple[Testbed, ...]:
    """The testbeds the pilot tries, in order: the first whose gates pass is the chapter's."""
    return NT1_TESTBEDS


def pilot_stages(testbed: Testbed = NT1_TESTBEDS[0]) -> list:
    """Train a testbed's pilot (the teachers first: logit regression reads them), then check its gates."""
    pilot = nt1_pilot(testbed)
    every = [spec for grid in ("student on labels", "logit regression") for specs in pilot[grid].values()
             for spec in specs]
    return [lambda: [*pilot["teacher"], *every]]


# --- NT-1's main runs, on the testbed the pilot chose -------------------------------------------------------------
# Fallback (i) passed both gates on 2026-12-07 (teacher − student on labels +7.18 points on validation, logit
# regression − student +1.56), so it is the chapter's second testbed. Fixed here before any main run existed:
# - seeds 0–9 (``nt1_seeds``). The pilot's paired differences (logit regression − student, validation) have an sd of
#   0.14 points, which asks for 5 seeds at 80 % power at the SESOI and alpha/11 (the paper's family with NT-1's three
#   primaries); a 2-seed sd is a rough estimate, so the plan uses the larger of that and √2 × the largest row sd
#   (0.30: 9 seeds), rounded up to the book's floor of 10. (Correction, after the runs: the family holds 12 p-values,
#   since a claim of "matches" brings two; at alpha/12 the same sds ask for 5 and 10 seeds, so the count stands.)
# - SESOI 0.5 points for C1 and C3: the chapter's rule, 1.6 binomial standard errors of one run's test accuracy, at
#   NT-1's accuracy (about 91 %: 0.29 points), not at full-data MNIST's 99 % (0.2 points).
# - C4's margin 1.2 points: the chapter's rule for "matches", a sixth of the teacher–student gap (7.18 on validation).
# - Student seed s learns from teacher seed s; "several teachers" adds the teachers of seeds s+1 and s+2 (mod n).
# - The sweeps (seed 0, teacher seed 0) are the first edition's grids, at the L2 setting the pilot chose.
NT1_MAIN = NT1_TESTBEDS[1]
NT1_SESOI = (0.5, "the chapter's rule for accuracy, 1.6 binomial standard errors of one run's test accuracy, at NT-1's "
                  "accuracy of about 91 % (0.29 points per run)")
NT1_MATCH_MARGIN = 1.2
NT1_NAME = NAMES["NT-1"]
_NT1_SMOKE = dict(teacher_epochs=1, teacher_eval_every=1, student_epochs=1, student_eval_every=1)


def nt1_testbed(profile) -> Testbed:
    """NT-1 as the profile runs it: the chosen testbed, or (smoke) the same specs at one epoch."""
    return replace(NT1_MAIN, **_NT1_SMOKE) if profile_name(profile) == "smoke" else NT1_MAIN


def _nt1_teachers(profile) -> dict[int, RunSpec]:
    """A teacher per seed of NT-1's table and its pilot; empty where the profile runs no NT-1."""
    seeds = tuple(budget(profile)["nt1_seeds"])
    testbed = nt1_testbed(profile)
    return {seed: nt1_teacher(seed, testbed) for seed in sorted({*seeds, *NT1_PILOT_SEEDS})} if seeds else {}


def nt1_choices(profile) -> tuple[dict, list]:
    """NT-1's first choices, as its gates read them: the CE rate and the L2 setting on seed 0's validation accuracy
    (grid name → key → spec), and what trains beside them (every teacher, the pilot's seed-1 runs)."""
    if not budget(profile)["nt1_seeds"]:
        return {}, []
    pilot = nt1_pilot(nt1_testbed(profile))
    grids = {f"NT-1 {grid}": {key: specs[0] for key, specs in pilot[grid].items()}
             for grid in ("student on labels", "logit regression")}
    return grids, [*_nt1_teachers(profile).values(), *[spec for grid in ("student on labels", "logit regression")
                                                       for specs in pilot[grid].values() for spec in specs[1:]]]


def nt1_sweeps(profile, chosen: dict) -> dict[str, dict]:
    """At the L2 setting chosen on validation (``chosen``: what ``choose`` returned), seed 0 from teacher seed 0:
    the noisy teacher on α × σ, the noisy student on its α values × σ, dropout × the L2 rates of that optimiser."""
    if not budget(profile)["nt1_seeds"]:
        return {}
    b, testbed = budget(profile, "mnist"), nt1_testbed(profile)
    optimizer, l2_rate = chosen["NT-1 logit regression"]
    regression = nt1_student(0, l2_rate, "logit_regression", optimizer, _nt1_teachers(profile)[0], testbed=testbed)
    grids = sweep_grids(regression, b, [lr for opt, lr in testbed.l2_settings if opt == optimizer])
    return {f"NT-1 {name}": grid for name, grid in grids.items()}


def nt1_plan(profile, chosen: dict, sweeps_: dict) -> dict:
    """NT-1's table at the choices made on validation (``chosen``: the pilot's grids and the sweeps, by grid name),
    student seed s from teacher seed s, with its pilot and sweeps. ``{}`` where the profile runs no NT-1."""
    seeds = tuple(budget(profile)["nt1_seeds"])
    if not seeds:
        return {}
    testbed, teachers_ = nt1_testbed(profile), _nt1_teachers(profile)
    ce_rate, (optimizer, l2_rate) = chosen["NT-1 student on labels"], chosen["NT-1 logit regression"]
    best = {name: sweeps_[f"NT-1 {name}"][chosen[f"NT-1 {name}"]]
            for name in ("noisy_teacher", "noisy_student", "dropout")}
    grids, _ = nt1_choices(profile)
    pilot = nt1_pilot(testbed)

    def taught(spec: RunSpec, seed: int) -> RunSpec:
        return spec.replace(seed=seed, teacher=teachers_[seed])
    every = sorted(teachers_)
    several = {seed: tuple(teachers_[every[(every.index(seed) + k) % len(every)]] for k in (1, 2)) for seed in seeds}
    regression = nt1_student(0, l2_rate, "logit_regression", optimizer, teachers_[0], testbed=testbed)
    table = {"student on labels": [nt1_student(seed, ce_rate, testbed=testbed) for seed in seeds],
             "logit regression": [taught(regression, seed) for seed in seeds],
             "noisy teacher": [taught(best["noisy_teacher"], seed) for seed in seeds],
             "noisy student": [taught(best["noisy_student"], seed) for seed in seeds],
             "student dropout": [taught(best["dropout"], seed) for seed in seeds],
             SEVERAL_TEACHERS: [taught(regression, seed).replace(extra_teachers=several[seed]) for seed in seeds]}
    return {"NT-1": {
        "dataset": testbed.dataset, "name": NT1_NAME, "testbed": testbed.name, "per_seed_teachers": True,
        "teachers": [teachers_[seed] for seed in seeds],
        "pilots": {"ce": grids["NT-1 student on labels"], "l2": grids["NT-1 logit regression"]},
        "pilot": pilot,  # every run of the pilot, both seeds: what its gates and the testbed table read
        "learning_rates": {"ce": ce_rate, "l2": (optimizer, l2_rate)},
        "sweeps": {name: sweeps_[f"NT-1 {name}"] for name in ("noisy_teacher", "noisy_student", "dropout")},
        "table": table}}


def gate_outcome(found: dict) -> dict:
    """The pilot read on validation: each grid's setting chosen on seed 0's final validation accuracy, then each
    gate on the seed means of the chosen rows. Returns the chosen settings, the rows and, per gate, its difference
    (passed or not) and whether it passed (a failed gate's message names both accuracies and the margin)."""
    chosen = {grid: best_on_validation({key: records[0]["metrics"].get("val_acc")
                                        for key, records in found[grid].items()})
              for grid in ("student on labels", "logit regression")}
    rows = {"teacher": found["teacher"], **{grid: found[grid][key] for grid, key in chosen.items()}}
    return {"chosen": chosen, "rows": rows, **read_gates(
        (gate, rows[better], rows["student on labels"])
        for gate, better in zip(NT1_GATES, ("teacher", "logit regression")))}


def pilot_summary(found: dict):
    """Every pilot row on validation: setting, mean ± std over the pilot's seeds (%), and whether it was chosen."""
    import pandas as pd

    from kdlib import report

    outcome = gate_outcome(found)
    rows = [{"row": "teacher (LeNet-5, shifts)", "setting": "SGD lr 0.05",
             "validation accuracy (%)": report.mean_std(claimlib.metric_values(found["teacher"], "val_acc"))}]
    for grid in ("student on labels", "logit regression"):
        settings = [(("sgd", key) if grid == "student on labels" else key) for key in found[grid]]
        ordered = sorted(zip(found[grid], settings), key=lambda item: (item[1][0] != "sgd", item[1][1]))
        for key, (optimizer, lr) in ordered:
            records = found[grid][key]
            setting = f"{'SGD' if optimizer == 'sgd' else 'Adam'} lr {lr:g}"
            rows.append({"row": grid, "setting": setting,
                         "validation accuracy (%)": report.mean_std(claimlib.metric_values(records, "val_acc"))
                         + (" ← chosen" if key == outcome["chosen"][grid] else "")})
    return pd.DataFrame(rows)


def pilot_results(train_missing: bool = False, testbed: Testbed = NT1_TESTBEDS[0]) -> dict:
    """A testbed's pilot records, grouped as ``nt1_pilot`` lists its specs."""
    pilot = nt1_pilot(testbed)
    load = lambda specs: [get_or_train(spec, train_missing, None, "line") for spec in specs]  # noqa: E731
    return {"teacher": load(pilot["teacher"]),
            **{grid: {key: load(specs) for key, specs in pilot[grid].items()}
               for grid in ("student on labels", "logit regression")}}


def testbed_overview(profile, train_missing: bool = False) -> list[tuple[Testbed, dict | None]]:
    """The pilots in the order they were tried, each with its records, up to the first testbed whose gates passed;
    the fallbacks after it (never trained) come with None. The smoke profile shows the chosen testbed only, at one
    epoch (what its plan trains); a profile without NT-1 shows none."""
    if not budget(profile)["nt1_seeds"]:
        return []
    if profile_name(profile) == "smoke":
        return [(nt1_testbed(profile), pilot_results(train_missing, nt1_testbed(profile)))]
    return tried_in_order(pilot_testbeds(), lambda testbed: pilot_results(train_missing, testbed), gate_outcome)


def testbed_table(overview: list[tuple[Testbed, dict | None]]):
    """One row per testbed tried: its data, the two gates' differences on validation (points, means over the
    pilot's seeds at the settings chosen on seed 0) against their margins, and the outcome."""
    return shared_testbed_table(overview, gate_outcome, list(zip(NT1_GATES, ("teacher − student on labels",
                                                                             "logit regression − student on labels"))))


def testbed_numbers(overview: list[tuple[Testbed, dict | None]]) -> dict[str, str]:
    """What the page's NT-1 paragraph glues: how many testbeds were piloted, the chosen one and its two gate
    differences, and the first one's failed difference (points, validation)."""
    design = {"nt1_teacher_gate": f"{NT1_GATES[0].margin:g}", "nt1_l2_gate": f"{NT1_GATES[1].margin:g}",
              "nt1_sesoi": f"{NT1_SESOI[0]:g}", "nt1_margin": f"{NT1_MATCH_MARGIN:g}"}
    if not overview:
        return {**design, "nt1_tried": "none", "nt1_chosen": "none", "nt1_chosen_data": "none",
                "nt1_chosen_teacher": "–", "nt1_chosen_l2": "–", "nt1_first_l2": "–"}
    tried = [(testbed, gate_outcome(found)) for testbed, found in overview if found is not None]
    chosen = next((testbed for testbed, outcome in tried if outcome["go"]), None)
    gap = lambda outcome, gate: f"{outcome['gates'][gate.name]['difference']:+.2f}"  # noqa: E731
    passed = dict(tried).get(chosen)
    return {**design, "nt1_tried": str(len(tried)), "nt1_chosen": chosen.name if chosen else "none",
            "nt1_chosen_data": chosen.why if chosen else "none",
            "nt1_chosen_teacher": gap(passed, NT1_GATES[0]) if chosen else "–",
            "nt1_chosen_l2": gap(passed, NT1_GATES[1]) if chosen else "–",
            "nt1_first_l2": gap(tried[0][1], NT1_GATES[1]) if tried else "–"}
