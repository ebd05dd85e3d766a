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
# # Speed: kdlib's trainer against plain PyTorch
#
# Every chapter trains through one loop in `kdlib`. Readers re-run chapters on laptops, so that loop should cost
# little beyond the model's own arithmetic. `python -m kdlib bench` times it against the pipelines most PyTorch code
# uses, side by side in one process, alternating the two sides and reporting the median of the repeats. Only
# training steps are timed; evaluation is left out on both sides.
#
# | measure | kdlib side | baseline side | goal |
# |---|---|---|---|
# | LeNet-5, MNIST, one epoch | `kdlib.train` (uint8 images in memory, batched and normalised as tensors) | torchvision `MNIST` + ToTensor + Normalize through a `DataLoader`, batch 128 | kdlib ≥ 3× faster |
# | the same epoch | `kdlib.train` | forward + backward + step on ready-made normalised batches | kdlib ≤ 1.10× slower |
# | small-CNN student on Fashion-MNIST | KD from cached ResNet-20 logits | the same student on labels alone | KD ≤ 1.2× slower |
# | ResNet-20, Fashion-MNIST, shifts and flips | `kdlib.train`, augmentation on whole batches | `DataLoader` with RandomCrop + RandomHorizontalFlip + ToTensor + Normalize | kdlib ≥ 1.3× faster |

# %% tags=["remove-cell"]
from kdlib.book import configure

_names_before_parameters = set(globals())

# %% tags=["parameters", "remove-cell"]
profile = "cpu"  # "smoke" (CI: a few hundred images, one repeat), "cpu" (the published book), "paper"
train_missing = True  # measure when no stored benchmark exists; False: stop with an error instead

# %% tags=["remove-cell"]
configure(globals(), _names_before_parameters, {"profile": ("smoke", "cpu", "paper"),
                                                "train_missing": (True, False)})

import matplotlib.pyplot as plt
import pandas as pd
from myst_nb import glue

from kdlib import benchmark

result = benchmark.stored_or_run(profile, train_missing)
machine = result["machine"]
glue("machine", f"{machine['cpu']}, {machine['cores']} cores, {machine['torch_threads']} torch threads, device "
     f"{machine['device']}, torch {machine['torch']}, measured {machine['date']}", display=False)
glue("repeats", result["repeats"], display=False)
glue("cache_s", float(result["teacher_logit_cache_s"]), display=False)
by_name = {row["name"]: row for row in result["measures"]}
loader = by_name["LeNet-5 / MNIST epoch: kdlib vs DataLoader"]["baseline_s"]
ready = by_name["LeNet-5 / MNIST epoch: kdlib vs ready-made batches"]["baseline_s"]
glue("lenet_bound", float(loader / ready), display=False)
glue("lenet_bound_reach", "cannot be reached" if loader / ready < 3 else "is within reach", display=False)

# %% [markdown]
# The latest stored measurement (`results/bench/<profile>.json`, re-made by
# `python -m kdlib bench --json results/bench/cpu.json`) was taken on {glue:text}`machine`, median of
# {glue:text}`repeats` repeats:

# %% tags=["hide-input"]
table = pd.DataFrame([{"measure": row["name"], "kdlib side (s)": row["kdlib_s"], "baseline side (s)": row["baseline_s"],
                       "ratio": row["ratio"], "goal": row["goal"], "met": "yes" if row["met"] else "no"}
                      for row in result["measures"]]).set_index("measure")
table.style.format({"kdlib side (s)": "{:.2f}", "baseline side (s)": "{:.2f}", "ratio": "{:.2f}"})

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(7.5, 2.8))
labels = [row["name"].split(":")[0] for row in result["measures"]]
ratios = [row["ratio"] for row in result["measures"]]
goals = [float(row["goal"].split()[-1].rstrip("x")) for row in result["measures"]]
ax.barh(labels, ratios, color=["tab:green" if row["met"] else "tab:red" for row in result["measures"]])
ax.scatter(goals, labels, marker="|", s=400, color="black", label="goal")
ax.invert_yaxis()
ax.set_xlabel("ratio (as defined in the goal column)")
ax.legend(loc="lower right")
plt.show()

# %% [markdown]
# Caching the ResNet-20 teacher's logits for the KD measure took {glue:text}`cache_s:.1f` s once; it is not part of
# the ratio, since a chapter computes them once for all its students.
#
# **How to read a miss.** The first and last ratios compare the *whole* step, the model's arithmetic included,
# which both sides share. kdlib can only remove the data pipeline's cost, so the ratio is bounded by
# (pipeline + model) / model. The second measure gives that bound for LeNet-5: a loop with no data handling at all
# would be {glue:text}`lenet_bound:.2f` times faster than the `DataLoader`, so the 3× goal
# {glue:text}`lenet_bound_reach` on this machine by an input pipeline alone. On a 2-core CPU the convolutions
# dominate; for ResNet-20 the per-image PIL transforms are a small share of an epoch, and so is what any pipeline
# can save there. On a GPU, where the model's arithmetic is cheap and the data pipeline is the bottleneck, the same
# ratios are expected to be much larger (not measured for this book: it had no GPU). Faster CPU arithmetic exists,
# for instance the `channels_last` memory format for convolutions, but it changes the order of floating-point sums,
# so every stored record would stop reproducing bit for bit; kdlib uses it on CUDA only.

# %% tags=["remove-input"]
from IPython.display import Markdown as _Markdown
from kdlib.runs import rebuilt_note as _rebuilt_note

_Markdown(f"**Rebuilt models.** {_rebuilt_note()}") if _rebuilt_note() else None
