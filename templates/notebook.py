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
# # TEMPLATE of a chapter page: copy to notebooks/07_my_paper.py (a jupytext py:percent notebook)
#
# The answer first: the verdict box opens the page. Then the claims in the paper's words, the results, the method.
# A notebook holds prose and one call per table or figure; every number in the prose is glued from the records.

# %% tags=["remove-cell"]
from kdlib.book import Page

_names_before_parameters = set(globals())

# %% tags=["parameters", "remove-cell"]
profile = "cpu"  # "smoke" (CI: tiny subsets, one epoch), "cpu" (the published book), "paper" (GPU recipes)
train_missing = True  # train runs whose record is missing; False: stop with an error instead
device = None  # None: CUDA when available, else CPU
seeds = None  # the seeds of every seeded row; None: the profile's
epochs = None  # epochs of every run; None: the profile's
alphas = None  # the KD weights tried on validation; None: the profile's

# %% tags=["remove-cell"]
page = Page.open(globals(), _names_before_parameters, "my_paper")  # checks every parameter before anything runs
profile, chapter = page.profile, page.chapter

from myst_nb import glue

from kdlib import report

# %% tags=["remove-input"]
page.opening()  # the verdict box and the "executed with" box

# %% tags=["remove-input"]
page.knobs()  # the collapsed box of the page's knobs and how to re-execute it

# %% tags=["hide-output"]
found = page.results()
for name, value in chapter.page_numbers(found).items():
    glue(name, value, display=False)

# %% [markdown]
# The distilled student reaches {glue:text}`distilled_acc:.2f` % test accuracy.

# %% tags=["hide-input"]
report.shown(chapter.accuracy_table(found))

# %% tags=["hide-input"]
page.claims_table()

# %% [markdown]
# ## Compute spent and how to reproduce
#
# The {glue:text}`n_runs` runs took {glue:text}`total_minutes:.0f` minutes of training.

# %% tags=["hide-input"]
page.compute_spent()

# %% tags=["remove-input"]
page.footer()
