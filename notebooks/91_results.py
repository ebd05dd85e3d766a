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
# # All run records
#
# Every number in this book is read from one of the records below. A record's id is a hash of everything that
# decides the run (dataset, model, method and its parameters, the teacher's own specification, budget, seed,
# optimiser, schedule, augmentation, validation split), so the same id always means the same experiment. Cite a
# number together with its id; `python -m kdlib reproduce <id>` re-trains it and compares.

# %% tags=["remove-cell"]
from kdlib.book import configure

_names_before_parameters = set(globals())

# %% tags=["parameters", "remove-cell"]
profile = "cpu"  # accepted for symmetry with the chapters; this page lists whatever records are stored

# %% tags=["remove-cell"]
configure(globals(), _names_before_parameters, {"profile": ("smoke", "cpu", "paper")})

import json

import pandas as pd
from myst_nb import glue

from kdlib import report, runs

records = runs.all_records()
table = report.records_table(records)
table.to_csv("all_runs.csv", index=False)
with open("all_runs.json", "w") as handle:
    json.dump(records, handle, indent=1, sort_keys=True)
glue("n_records", len(table), display=False)
glue("n_diverged", int(table["diverged"].sum()), display=False)
glue("diverged_where", report.diverged_summary(records), display=False)
glue("total_hours", float(table["minutes"].sum() / 60), display=False)

# %% [markdown]
# {glue:text}`n_records` records; {glue:text}`n_diverged` of them diverged and are kept as results
# ({glue:text}`diverged_where`). Download them as {download}`CSV <all_runs.csv>` (one row per run, the columns below) or as
# {download}`JSON <all_runs.json>` (the complete records: specification, metrics, per-epoch history and
# provenance). Accuracies are fractions.
#
# Where they ran: the environments and the training time the records measured, {glue:text}`total_hours:.1f` hours
# in all (wall time per run; runs often shared the CPU two at a time).

# %% tags=["hide-input"]
environment = pd.DataFrame([{"device": r["provenance"]["device"],
                             "processor": r["provenance"].get("cpu", "not recorded"),
                             "threads": r["provenance"]["threads"],
                             "torch": r["provenance"]["torch"], "python": r["provenance"]["python"],
                             "kdlib": r["provenance"]["kdlib"], "minutes": r["provenance"]["wall_time_s"] / 60}
                            for r in records])
(environment.groupby(["device", "processor", "threads", "torch", "python", "kdlib"])["minutes"].agg(["count", "sum"])
 .rename(columns={"count": "runs", "sum": "minutes"}).round(1)) if len(environment) else environment

# %% [markdown]
# Every record. A dash stands for a number the run does not have: a diverged run (marked in the last column), a
# data-free generator run (no accuracy) or a data-free student (no validation split: it reads no training image).

# %% tags=["hide-input"]
table[[*[c for c in table.columns if c != "diverged"], "diverged"]].style.hide(axis="index").format(
    {"test_acc": "{:.4f}", "val_acc": "{:.4f}", "minutes": "{:.1f}", "diverged": lambda value: "diverged" if value
     else ""}, na_rep="–")
