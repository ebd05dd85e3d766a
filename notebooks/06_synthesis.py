# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Synthesis: every method on one benchmark, and every claim in one ledger
#
# Each chapter tested one paper in that paper's own setting, scaled down to this CPU. The settings differ from chapter
# to chapter, so their numbers cannot be compared across chapters. This page puts every method of the book on
# **one common benchmark**: the same teacher, the same student, the same data, recipe and seeds. It then gathers
# the verdicts of all nineteen claims, read from the files the chapters wrote when they were executed.
#
# ```{admonition} The benchmark is the book's, not any paper's
# :class: warning
# - **Networks.** The teacher is LeNet-5 {cite:p}`lecun1998gradient` (about 62 K parameters) and the student
#   LeNet-5-half (about 16 K), the pair of the data-free papers' MNIST experiments. None of the other papers used
#   this pair.
# - **Data.** MNIST and Fashion-MNIST, each in full: 55,000 training images, 5,000 held out for validation, the
#   10,000 test images. Fashion-MNIST is here a dataset of its own, not a stand-in for CIFAR.
# - **Settings.** Every method keeps the settings its chapter starts from (the official code's or the book's
#   defaults), listed below. None was tuned for this benchmark, so a method whose settings suit a deep network
#   may be at a disadvantage on a 16 K-parameter student.
# - **Data-free rows.** DAFL and RDSKD never see a training image. They train on generated images with the data-free
#   chapter's own budget, not the recipe of the other rows, and are marked as such.
# ```

# %% tags=["remove-cell"]
from kdlib.chapters import configure, synthesis as chapter

_names_before_parameters = set(globals())

# %% tags=["parameters"]
profile = "cpu"  # "smoke" (CI: tiny subsets, one epoch), "cpu" (the published book), "paper" (GPU recipes)
train_missing = True  # train runs whose record is missing; False: stop with an error instead
device = None  # None: CUDA when available, else CPU

# %% tags=["remove-cell"]
configure(globals(), _names_before_parameters, chapter.PARAMETERS)

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from myst_nb import glue

from kdlib import report, runs
from kdlib.methods import resolve_params

# The ledger reads what the chapters wrote when they ran: check it is there before training anything.
CHAPTER_FILES = ["01_noisy_teachers", "02_rocket_launching", "03_teacher_free", "04_self_distillation",
                 "05_data_free"]
missing = [name for name in CHAPTER_FILES if not Path(f"claims_{name}.json").exists()]
if missing:
    raise FileNotFoundError(f"no claims file for {', '.join(missing)} in {Path.cwd()}: execute those chapters first "
                            "(`make notebooks` runs them in order), then this page")
budget = chapter.budget(profile)
DATASETS = budget["datasets"]
DATASET_NAMES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}
glue("profile", profile, display=False)
glue("seeds", len(budget["seeds"]), display=False)
glue("n_methods", len(chapter.NEEDS), display=False)

# %% [markdown]
# ```{note}
# This page was executed with the **{glue:text}`profile`** profile. The `smoke` profile, used by the tests, trains
# on a few hundred images for one epoch, and its numbers mean nothing.
# ```
#
# ## The benchmark
#
# {glue:text}`n_methods` methods, {glue:text}`seeds` seeds each. What each one trains with:

# %% tags=["hide-output"]
results = chapter.results(profile, train_missing, device)

# %% tags=["hide-input"]
first = DATASETS[0]
setup_rows = []
for label, records in results["table"][first].items():
    spec = runs.RunSpec.from_dict(records[0]["spec"])
    params = ", ".join(f"{k}={v:g}" for k, v in resolve_params(spec.method, dict(spec.method_params)).items()) or "–"
    teacher = f"{spec.teacher.model} ({spec.teacher.method}, {spec.teacher.epochs} epochs)" if spec.teacher else "–"
    setup_rows.append({"method": label, "model": spec.model, "loss (kdlib method)": spec.method,
                       "its settings": params, "teacher": teacher, "epochs": spec.epochs,
                       "optimiser": f"{spec.optimizer}, lr {spec.lr:g}", "schedule": spec.schedule,
                       "batch": spec.batch_size,
                       "training data": "generated" if label in chapter.DATA_FREE else "real"})
pd.DataFrame(setup_rows).set_index("method")


# %% [markdown]
# Every row on real data uses one recipe, the data-free chapter's KD run: SGD with Nesterov momentum, learning
# rate 0.05, a one-epoch warm-up and cosine decay (that chapter found plain cosine let KD collapse on MNIST). The
# teacher of every row that has one is the seed-0 LeNet-5 run of its dataset; Tf-KD_self is taught by the
# student's own seed-0 run on labels; Rocket trains the student beside a LeNet-5 booster, sharing no layer (its
# Wide-ResNet sharing schemes do not apply to LeNets); self-distillation trains LeNet-5-half with an exit after
# each of its three stages and reports the deepest exit, which is LeNet-5-half itself, so its cost at inference
# is the student's.
#
# ## Results
#
# Test accuracy (%) of the student after the last epoch, mean ± std over seeds. "Δ vs labels" is the difference
# from the student trained on labels alone, with "higher" or "lower" when it exceeds two standard errors.
# Training time is each run's wall time as its record measured it; "with what it needs first" adds the runs it
# depends on (the teacher, RDSKD's generator), counted once. The runs shared two CPU cores with each other and,
# at times, with other work, so differences in time of less than about a third mean little. The run ids identify
# each number: cite them, and
# `python -m kdlib reproduce <id>` re-trains one.

# %% tags=["hide-input"]
def minutes(records):
    return float(np.mean([r["provenance"]["wall_time_s"] for r in records]) / 60)


def with_prerequisites(records, before):
    return float(np.mean([(r["provenance"]["wall_time_s"] + sum(p["provenance"]["wall_time_s"] for p in needed)) / 60
                          for r, needed in zip(records, before)]))


tables, points = {}, []
for dataset in DATASETS:
    rows = results["table"][dataset]
    baseline = rows["student on labels"]
    table_rows = []
    for label, records in rows.items():
        diff = report.compare_records(records, baseline)[0] if label != "student on labels" else None
        needs_teacher, real_data, second = chapter.NEEDS[label]
        total = with_prerequisites(records, results["prerequisites"][dataset][label])
        table_rows.append({"method": label, "test acc (%)": report.mean_std(report.metric_values(records)),
                           "Δ vs labels": "–" if diff is None else f"{diff['delta']:+.2f} ({diff['outcome']})",
                           "training (min)": minutes(records), "with what it needs first (min)": total,
                           "pre-trained teacher": needs_teacher, "real training images": real_data,
                           "second network": second, "run ids": " ".join(r["id"] for r in records)})
        points.append({"dataset": DATASET_NAMES[dataset], "method": label,
                       "data": "no data (generated images)" if label in chapter.DATA_FREE else "real data",
                       "Δ test acc vs labels (points)": 0.0 if diff is None else diff["delta"],
                       "training cost, with what it needs first (min)": total})
    tables[dataset] = pd.DataFrame(table_rows).set_index("method")
points = pd.DataFrame(points)


def show(dataset):
    return tables[dataset].style.format({"training (min)": "{:.2f}", "with what it needs first (min)": "{:.2f}"})


# %% [markdown]
# ### MNIST

# %% tags=["hide-input"]
show("mnist")

# %% [markdown]
# ### Fashion-MNIST

# %% tags=["hide-input"]
show("fashion_mnist") if "fashion_mnist" in tables else None

# %% [markdown]
# Gain against cost: each point is one method, its accuracy gain over the student on labels (mean over seeds)
# against its training cost including the runs it needs first.

# %% tags=["hide-input"]
grid = sns.relplot(points, x="training cost, with what it needs first (min)", y="Δ test acc vs labels (points)",
                   hue="method", style="data", col="dataset", s=70, height=3.8, aspect=1.1,
                   facet_kws={"sharey": False, "sharex": False})
for ax in grid.axes.flat:
    ax.axhline(0.0, color="0.6", linewidth=0.8, zorder=0)
plt.show()

# %% tags=["hide-input"]
best = {dataset: tables[dataset].drop(index="student on labels") for dataset in DATASETS}
higher = {dataset: [label for label, row in frame.iterrows() if "(higher)" in row["Δ vs labels"]]
          for dataset, frame in best.items()}
lower = {dataset: [label for label, row in frame.iterrows() if "(lower)" in row["Δ vs labels"]]
         for dataset, frame in best.items()}
glue("summary", " ".join(
    f"On {DATASET_NAMES[dataset]}, {len(higher[dataset])} of the {len(best[dataset])} methods beat the student on "
    f"labels by more than two standard errors ({', '.join(higher[dataset]) or 'none'}) and {len(lower[dataset])} "
    f"fall below it ({', '.join(lower[dataset]) or 'none'})." for dataset in DATASETS), display=False)
collapsed = {f"{label} on {DATASET_NAMES[dataset]}": report.collapsed(records)
             for dataset in DATASETS for label, records in results["table"][dataset].items()
             if label not in chapter.DATA_FREE and report.collapsed(records)}
glue("collapse_note", "No run on real data ended at chance level." if not collapsed else
     "Some runs on real data ended at chance level (final training accuracy under 15 %) or diverged: " +
     ", ".join(f"{label} ({count} of {len(budget['seeds'])} seeds)" for label, count in collapsed.items()) +
     ". That says as much about the one shared recipe (one learning rate for every loss) as about the methods." +
     (" Logit regression and the noisy teacher regress raw logits with an L2 loss, whose gradients are far larger "
      "than cross-entropy's at the same learning rate; their own chapter picks their learning rate on validation."
      if any(label.startswith(("logit regression", "noisy teacher")) for label in collapsed) else ""),
     display=False)

# %% [markdown]
# {glue:text}`summary` The other differences are within the seeds' noise. {glue:text}`collapse_note`
#
# ## The claims ledger
#
# Every claim the book tests, with the verdict its chapter reached, read from the file each chapter writes when it
# runs (`claims_<chapter>.json`), never retyped. Each verdict holds for that chapter's own scale and stand-in data,
# given on the chapter's page.

# %% tags=["hide-input"]
ledger = pd.concat([pd.DataFrame(json.loads(Path(f"claims_{name}.json").read_text())) for name in CHAPTER_FILES])
stale = sorted(set(ledger["profile"]) - {profile})
if stale:
    raise ValueError(f"the claims files were written at profile {', '.join(stale)}, this page runs at {profile!r}: "
                     "execute the chapters at the same profile first")
ledger["number"] = ledger["claim"].str[1:].astype(int)
ledger = ledger.sort_values("number", kind="stable").reset_index(drop=True)
counts = ledger.groupby(["chapter", "verdict"]).size().unstack(fill_value=0)
glue("n_claims", int(ledger["number"].nunique()), display=False)
glue("n_statements", len(ledger), display=False)
glue("n_confirmed", int((ledger["verdict"] == "confirmed").sum()), display=False)
counts

# %% [markdown]
# {glue:text}`n_statements` statements test the {glue:text}`n_claims` claims; {glue:text}`n_confirmed` of them are
# confirmed at the book's scale. The whole ledger:

# %% tags=["hide-input"]
ledger[["claim", "chapter", "statement", "verdict", "evidence"]].style.hide(axis="index").set_properties(
    **{"text-align": "left", "white-space": "pre-wrap"})

# %% [markdown]
# ## Compute spent and how to reproduce

# %% tags=["hide-input"]
every_record = [r for rows in results["table"].values() for records in rows.values() for r in records]
every_record += [p for rows in results["prerequisites"].values() for before in rows.values() for needed in before
                 for p in needed]
spent = report.compute_spent(every_record)
glue("n_runs", len(spent), display=False)
glue("total_minutes", float(spent["minutes"].sum()), display=False)
spent.groupby(["dataset", "method"])["minutes"].agg(["count", "sum"]).round(2)

# %% [markdown]
# The benchmark rests on {glue:text}`n_runs` distinct runs, {glue:text}`total_minutes:.0f` minutes of training as
# their records measured them (the teachers, KD with real data and the data-free rows are shared with the
# data-free chapter). To re-create them:
#
# ```bash
# python -m kdlib chapter synthesis --profile cpu                     # every missing run of the benchmark
# python -m kdlib --threads 1 chapter synthesis --group forward &    # or two processes sharing the work
# python -m kdlib --threads 1 chapter synthesis --group backward
# make book                                                          # every chapter, then this page
# ```
#
# The works cited on this page are listed under {doc}`references`.
