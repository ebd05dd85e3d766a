"""TEMPLATE of a chapter module: copy to ``kdlib/chapters/<name>.py`` and fill in. (This file is not imported.)

A chapter declares what it trains, what it claims and what its page shows; ``kdlib.book`` runs it:
``python -m kdlib chapter <name>`` trains the stages derived from its ``plan``, ``book.found`` reads its records once
per process,
``book.ledger`` adds its claims to the book's ledger (Holm within the chapter), and its notebook shows one table or
figure per call. The chapter list is read from the modules (``CHAPTER`` and ``PAGE``): no other list to edit.
"""

from __future__ import annotations

import pandas as pd

from kdlib import claims as kc
from kdlib import report
from kdlib.chapters import Choose, load_plan, plan_stages
from kdlib.profiles import Knob, epochs_knob, profile_budget, seeds_knob
from kdlib.runs import get_or_train
from kdlib.spec import RunSpec

CHAPTER = "my_paper"  # the page's name: python -m kdlib page my_paper
PAGE = "07_my_paper"  # its notebook, notebooks/07_my_paper.py; the number orders the book

# The page's parameters beyond profile, train_missing and device: typed and range-checked before anything runs.
KNOBS = {
    "seeds": seeds_knob(),
    "epochs": epochs_knob("epochs of every run"),
    "alphas": Knob("floats", "the KD weights tried on validation", 0.0, 1.0),
}
# One budget per profile: smoke (CI: tiny, meaningless numbers), cpu (the published book), paper (the paper's recipe).
_BUDGETS = {
    "smoke": dict(seeds=(0,), epochs=1, alphas=(0.5, 0.9), subset=512),
    "cpu": dict(seeds=(0, 1, 2), epochs=20, alphas=(0.5, 0.9), subset=None),
    "paper": dict(seeds=(0, 1, 2), epochs=200, alphas=(0.5, 0.9), subset=None),
}


def budget(profile) -> dict:
    return profile_budget(_BUDGETS, profile, (CHAPTER,))


def datasets(profile) -> tuple[str, ...]:
    """Every dataset the runs read (checked before the first run)."""
    return ("fashion_mnist",)


# --- what it trains -------------------------------------------------------------------------------------------------

def grid(profile) -> dict[float, RunSpec]:
    """The KD weight grid, seed 0, read on validation: its best cell sets the table's distilled rows."""
    b = budget(profile)
    teacher = RunSpec("fashion_mnist", "lenet5", epochs=b["epochs"], seed=0, subset=b["subset"])
    student = RunSpec("fashion_mnist", "mlp_2x100", epochs=b["epochs"], seed=0, subset=b["subset"])
    return {alpha: student.replace(method="kd", teacher=teacher, method_params=(("alpha", alpha),))
            for alpha in b["alphas"]}


def table_runs(profile, alpha: float) -> dict[str, list[RunSpec]]:
    """Row label → one spec per seed, at the KD weight chosen on validation. Student seed s learns from teacher
    seed s."""
    b = budget(profile)
    teachers = [RunSpec("fashion_mnist", "lenet5", epochs=b["epochs"], seed=s, subset=b["subset"]) for s in b["seeds"]]
    students = [RunSpec("fashion_mnist", "mlp_2x100", epochs=b["epochs"], seed=s, subset=b["subset"])
                for s in b["seeds"]]
    return {"teacher": teachers, "student alone": students,
            "distilled": [s.replace(method="kd", teacher=t, method_params=(("alpha", alpha),))
                          for s, t in zip(students, teachers)]}


def plan(profile, choose: Choose) -> dict:
    """What the chapter trains, as a pure function: earlier records are read only through ``choose`` (the grid's
    best cell on validation; while the grid has no records, ``choose`` stops the plan there, and the stages train
    the grid first)."""
    alphas = grid(profile)
    return {"grid": alphas, "table": table_runs(profile, choose("KD weight", alphas))}


def stages(profile, device=None) -> list:
    """The grid, then the table: derived from ``plan`` (one choice, so two stages)."""
    return plan_stages(plan, profile, depth=2)


def results(profile, train_missing: bool = True, device=None) -> dict:
    """The plan's records, grouped as the tables use them (``kdlib.book.found`` memoises it)."""
    return {"profile": profile,
            **load_plan(plan, profile, lambda spec: get_or_train(spec, train_missing, device, "line"))}


# --- what it claims -------------------------------------------------------------------------------------------------

def claims(found: dict) -> list[kc.Claim]:
    """Each claim in the paper's words (quoted, with its source), its primary comparison first, its SESOI and
    direction declared here before the runs; preconditions (the positive controls) are gates, not family members."""
    table = found["table"]
    setting = kc.Setting("Fashion-MNIST (stand-in for CIFAR-10)", "LeNet-5 → MLP 2×100", "20 epochs, 3 seeds")
    control = kc.control("the teacher beats the student alone",
                         kc.compare("teacher − student alone", table["teacher"], table["student alone"]))
    return kc.adjust([kc.Claim("M1", CHAPTER, '"KD improves the student" (the paper, §4)', "–", setting, "higher",
                               (kc.compare("distilled − student alone", table["distilled"], table["student alone"]),),
                               preconditions=[control])])


# --- what the page shows: tables and figures as functions of records, each with a unit test ---------------------------

def accuracy_table(found: dict) -> pd.DataFrame:
    """One row per table row: test accuracy (%) mean ± std over seeds, and the run ids."""
    return pd.DataFrame([{"row": label, "test accuracy (%)": report.mean_std(kc.metric_values(records)),
                          "run ids": " ".join(record["id"] for record in records)}
                         for label, records in found["table"].items()])


def page_numbers(found: dict) -> dict:
    """Every number the page's prose glues (glue name → value)."""
    return {"distilled_acc": float(kc.points(found["table"]["distilled"]).mean())}
