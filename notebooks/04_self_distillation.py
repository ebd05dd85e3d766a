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
# # Self-distillation: a network that is its own teacher
#
# {cite:t}`zhang2019byot` attach a classifier (an *exit*) after each stage of a ResNet and train all of them in one
# run. The deepest exit teaches the shallower ones with a KD loss on their outputs and a hint on their features. The
# journal version {cite:p}`zhang2021selfdistillation` adds an attention module in front of each shallow exit. The
# verdicts first; the claims in full below.

# %% tags=["remove-cell"]
from kdlib.book import Page

_names_before_parameters = set(globals())

# %% tags=["parameters", "remove-cell"]
profile = "cpu"  # "smoke" (CI: tiny subsets, one epoch), "cpu" (the published book), "paper" (GPU recipes)
train_missing = True  # train runs whose record is missing; False: stop with an error instead
device = None  # None: CUDA when available, else CPU
dataset = None  # the dataset (Fashion-MNIST stands in for CIFAR-100 offline); None: the profile's
seeds = None  # the seeds of every seeded row; None: the profile's
epochs = None  # epochs of every run; None: the profile's
subset = None  # training images used ('all': every one); None: the profile's
lr = None  # the initial learning rate (SGD); None: the profile's

# %% tags=["remove-cell"]
page = Page.open(globals(), _names_before_parameters, "self_distillation")
profile, chapter = page.profile, page.chapter

import matplotlib.pyplot as plt
import pandas as pd
import torch
from myst_nb import glue

from kdlib import claims, data, report
from kdlib.methods.self_distillation import shallow_term_gradients
from kdlib.models import build_model

budget = chapter.budget(profile)
BACKBONE = budget["backbone"]


# %% tags=["remove-input"]
book_claims = page.ledger()  # the book's claims ledger, computed once in this kernel
page.opening()

# %% [markdown]
# This page's knobs: the value this execution used, the published book's and the `paper` profile's, what each takes
# and what it means (click to show). `python -m kdlib page self_distillation -p NAME VALUE` re-executes the page with another
# value, and `--dry-run` first lists the runs that would train and the minutes they would take.

# %% tags=["hide-input", "hide-output"]
page.knobs()

# %% [markdown]
# The claims, numbered as in the rest of the book:
#
# - **C14** every classifier, the deepest included, beats the same network trained alone, and the ensemble of the
#   exits is better still (average CIFAR-100 gains of 2.65 points in the conference paper, 3.49 in the journal);
# - **C15** the shallow exits trade accuracy for speed: fewer parameters and operations and faster inference, with no
#   second model to design or train;
# - **C16** one training run replaces the two-stage procedure of training a teacher and then distilling a student.
#
# The papers' evidence is CIFAR-100 and ImageNet with ResNets of 18 to 152 layers (and VGG, WideResNet, PyramidNet,
# ResNeXt), trained for 200 to 250 epochs. This chapter tests C14–C16 on **Fashion-MNIST {cite}`xiao2017fashion` as
# a stand-in for CIFAR-100**, with a ResNet small enough for a 2-core CPU.
#
# ```{admonition} Stand-in data, a smaller network, a short budget
# :class: warning
# - **Data.** CIFAR-100 cannot be downloaded where this book is built. Fashion-MNIST has 10 classes, not 100, and
#   28×28 grey images, not 32×32 colour ones. The page trains on {glue:text}`subset` (a fixed draw; a quarter as
#   many again, or 5,000 for the full set, are held out for validation) and tests on as many of the first test images (at most all 10,000).
# - **Network.** A ResNet-18 is far too slow for the dozens of runs this chapter needs on this CPU. The backbone
#   is therefore a narrow four-stage ResNet-10: one basic block per stage, widths 16-32-64-128, where ResNet-18 has
#   two blocks per stage at widths 64-128-256-512. The four stages, and so the four exits, are kept.
# - **Budget.** {glue:text}`epochs` epochs with a cosine schedule and no augmentation, instead of 200–250 epochs with learning-rate
#   steps and AutoAugment. The chapter was sized to fit in about an hour of this CPU (the last section gives what
#   its runs took).
# - **Reading the numbers.** They are not CIFAR-100 numbers. The paper's ResNet-18 row is shown beside ours for its
#   pattern (which exit gains), not to compare accuracies, and every row says which data it is on.
# ```

# %% [markdown]
# ## The method
#
# Number the exits $i = 1, \dots, C$ from the shallowest; exit $C$ is the network's own classifier. Each exit
# pools a feature vector $F_i$ and outputs logits $z_i$, with $q_i = \mathrm{softmax}(z_i)$ and
# $q_i^T = \mathrm{softmax}(z_i / T)$. One run minimises
#
# $$ \mathcal{L} = \mathrm{CE}(q_C, y) + \sum_{i<C} \Big[ (1-\alpha)\,\mathrm{CE}(q_i, y)
#    + \alpha\, T^2\, \mathrm{KL}\big(q_C^T \,\Vert\, q_i^T\big) + \lambda\, \lVert F_i - F_C \rVert_2^2 \Big] , $$
#
# with every term averaged over the batch. The deepest exit is the teacher, and it learns from the labels alone:
# in the shallow terms its logits and features are constants (detached), as in the official code. The KD and hint
# terms therefore train the shallow exits and the stages those share with the deepest exit, but never the last stage
# or its classifier. With $\alpha = \lambda = 0$ the loss is plain *deep supervision*: every exit on the labels.
# kdlib uses α = {glue:text}`alpha`, T = {glue:text}`temperature` and λ = {glue:text}`lam`, the weights of the
# official journal code {cite:p}`zhang2021code`; the papers' own values were not found.
#
# The cell below checks the rule on a real batch. It back-propagates the shallow exits' KD and hint terms alone
# through a freshly initialised network and measures the gradient norm that reaches each part.

# %% tags=["hide-input"]
dataset = data.load(budget["dataset"])
_, val_idx = data.split_indices(len(dataset.train_images), chapter.plain(profile).val_size, budget["subset"])
batch = data.normalise(dataset.train_images[val_idx[:128]], dataset.mean, dataset.std)
batch_labels = dataset.train_labels[val_idx[:128]]
gradient_rows = {}
for variant in ("iccv", "tpami"):
    torch.manual_seed(0)
    network = build_model(f"{BACKBONE}_sd_{variant}", dataset.image_shape, dataset.n_classes).train()
    gradient_rows[f"{variant.upper()} exits"] = shallow_term_gradients(network, batch, batch_labels)
pd.DataFrame(gradient_rows).rename_axis("part of the network").style.format("{:.3g}")

# %% [markdown]
# Stage 4 and the exit-4 classifier get exactly zero; every other part gets a gradient.
#
# ## The exits
#
# **ICCV exits** (bottleneck branches, as in the public re-implementation of the conference paper
# {cite:p}`luan2019byotcode`): a 1×1 convolution, a k×k convolution of stride k (k = 8, 4, 2 for exits 1–3) and a
# 1×1 convolution up to the last stage's width, each with BatchNorm and ReLU. **TPAMI exits** (as in the official
# journal code): an attention module (a strided separable convolution, upsampled back and squashed by a sigmoid into
# a mask that multiplies the stage's output), then one strided separable convolution per stage still to go. Every
# exit ends in global average pooling and a linear classifier. The shapes, for one {glue:text}`dataset_name` image:

# %% tags=["hide-input"]
report.shown(chapter.exit_table(BACKBONE, dataset.image_shape, dataset.n_classes))

# %% [markdown]
# The module tree of the TPAMI network's first exit:

# %% tags=["hide-input"]
print(build_model(f"{BACKBONE}_sd_tpami", dataset.image_shape, dataset.n_classes).branches["exit1"])

# %% [markdown]
# ## Setup (the book's choices)
#
# - **Rows.** The plain network (the backbone alone); self-distillation with ICCV exits and with TPAMI exits, each
#   with and without the feature hint (λ = 0), because users of the official code report that the hint does not
#   help; deep supervision (the ICCV exits, α = λ = 0), which separates the distillation from the extra classifiers;
#   each exit's path (stem, stages 1..k, exit k) trained alone as a small network of its own, the "same network
#   trained alone" for that exit; and each exit's path distilled from the plain network (seed 0) with the same
#   α and T, the two-stage procedure of C16.
# - **Recipe.** {glue:text}`epochs` epochs of SGD with Nesterov momentum 0.9, batch 128, learning rate 0.1,
#   weight decay 5·10⁻⁴, a one-epoch warm-up and cosine decay, no augmentation. Every row uses the same recipe and
#   {glue:text}`seeds` seeds. Nothing was chosen on the test set; no hyper-parameter was searched.
# - **Ensemble.** The argmax of the sum of all four exits' logits, as the official code sums them.

# %% tags=["hide-output"]
results = page.results()
TABLE = results["table"]
for name, value in chapter.page_numbers(results, book_claims).items():
    glue(name, value, display=False)

# %% tags=["hide-input"]
report.setup_table(chapter.setup_specs(results))

# %% [markdown]
# ## Every exit against the same network trained alone (C14)
#
# Test accuracy (%), mean ± std over {glue:text}`seeds` seeds, in the layout of the paper's CIFAR-100 table. The
# "baseline" of our rows is the plain network; the "trained alone" rows put each exit's path, trained by itself,
# under the exit it matches. Beneath ours: the paper's ResNet-18 row {cite:p}`zhang2019byot` (as quoted in a
# lecture, the paper's full text was not found) and two third-party runs of the official journal code on
# CIFAR-100, with and without its feature loss.

# %% tags=["hide-input"]
report.shown(chapter.accuracy_table(results))

# %% [markdown]
# Test accuracy of every exit per epoch, self-distillation with TPAMI exits against deep supervision (mean over
# seeds, band one standard deviation):

# %% tags=["hide-input"]
chapter.exit_curves(results)
plt.show()

# %% [markdown]
# ## Accuracy for speed (C15)
#
# What deploying each exit costs: the parameters and multiply-accumulates of the path up to that exit, and its CPU
# latency when only that path runs (`forward_exit`). Accuracy is the TPAMI network's, mean over seeds.

# %% tags=["hide-input"]
report.shown(chapter.cost_table(results, chapter.exit_latencies(results)))

# %% tags=["hide-input"]
chapter.accuracy_for_cost(results)
plt.show()

# %% [markdown]
# The figure's cost axis is counted (multiply-accumulates per image), not timed: one CPU timing of these small
# networks varies by a factor of three between runs of the same network, which a plot against latency would draw
# as a trade-off. Latency, measured with {glue:text}`threads` CPU threads when this page was built, is in the table
# only. "Trained alone" are the
# separately trained paths: the same parameters and cost as the ICCV exits, but one network per exit.
#
# ## One stage or two (C16)
#
# The two-stage alternative trains the plain network first and then distils one small network per exit from it.
# Time spent in training steps (evaluation excluded), as the records measured it, mean over seeds; the KD students
# read the teacher's cached logits, so their time excludes the one pass of the teacher over the training set.

# %% tags=["hide-input"]
report.shown(chapter.training_time_table(results))

# %% [markdown]
# On average over seeds, one self-distillation run (ICCV exits) took {glue:text}`sd_over_plain:.2f` times the
# training time of the plain network and yields four classifiers; the plain network followed by three distilled
# paths took {glue:text}`two_stage_all_over_plain:.2f` times. These are rough ratios: the runs shared a 2-core
# machine with each other and with other work, so the same run can take much longer when its neighbours are busy
# (the plain network's own {glue:text}`seeds` seeds took {glue:text}`plain_time_range` in training steps). C16's
# cost claim below compares the per-seed times with a test that takes that spread into account. Counted in multiply-accumulates per image (table above), a self-distillation step costs the
# plain network's plus its shallow exits'. Accuracy of each exit, one stage against two:

# %% tags=["hide-input"]
report.shown(chapter.stage_accuracy_table(results))

# %% [markdown]
# ## A second testbed: less data, longer training (SD-1)
#
# At this chapter's first setting the controls that C14 and C16 rest on fail on test (see the claims below): KD from the
# plain network into an exit path gains nothing over the path alone, and the plain network beats only the exit-1 path.
# Published distillation gains appear with little training data and long training, so the chapter piloted a second
# testbed: every network on 5,000 training images (a fixed draw after the 5,000 validation images are carved; the test
# set all 10,000), 30 epochs, validation every 3 epochs, the chapter's recipe otherwise, and each KD student taught by
# the plain network of its own seed at the two-stage rows' α 0.3, T 3; the fallbacks, in order, train on 2,000 images
# for 60 epochs; on the same 5,000 with the papers' crops and flips; and, added after that one passed the teacher gate
# and failed the KD gate, the same networks with KD's α and T chosen on seed 0's validation from a 3 × 3 grid (α 0.3,
# 0.6, 0.9 × T 1, 3, 6), which makes its KD gate optimistic by the best of nine draws; and, added while that one's last
# run trained, (ii) on a 100-class task built from Fashion-MNIST (two garments stacked as two channels, labelled 10 a +
# b; 5,000 training pairs; the test set 5,000 pairs), with KD at the cell (iii) chose, since the papers' data has 100
# classes and KD gains grow with them. Candidates were piloted in a fixed order (seeds 0–1, read on validation) against
# two gates on the exit-1 path, the shallowest, written in `kdlib/chapters/self_distillation.py` before any of their
# runs: the plain network must beat the path alone by at least {glue:text}`sd1_teacher_gate` points, and KD into the
# path must beat it by at least {glue:text}`sd1_kd_gate` point. Testbeds piloted, in order: {glue:text}`sd1_tried`.
# Outcome: {glue:text}`sd1_outcome`. These are Fashion-MNIST settings, not the papers' CIFAR-100.

# %% tags=["hide-input"]
overview = page.testbeds()  # the pilots are the cpu profile's; other profiles show none
page.pilot_tables(overview)

# %% [markdown]
# ## The claims
#
# Each claim is judged from the run records by `kdlib.claims`, in this chapter's setting, on its one primary
# comparison (its first row; further rows are secondary and descriptive, with their raw p), with Holm's correction
# within this paper's claims: the rows, adjusted p and verdicts below are the ones the {doc}`06_synthesis` page
# shows, and that page defines the five verdicts. In short: *supported* or *contradicted* means the primary
# comparison is significant in or against the claimed direction after correction; *equivalent* (for claims that two
# things match) means within a margin the claim states (see its module); *inconclusive* means neither, and the MDE
# column gives the smallest effect the test would have found with 80 % power at the level that decided it, the
# power column its power at the claim's smallest effect of interest (SESOI); *untestable here* means a precondition the claim rests on
# failed at this scale. An effect is ours minus the comparison, in accuracy points (or minutes of training), with its
# 95 % interval. The ICCV and TPAMI exits are two settings, after the two papers, and each claim is judged in each.
#
# - **C14** and **C16**'s accuracy claim rest on the deepest classifier being able to teach the shallow ones at this
#   scale, checked for every shallow exit k: the plain network beats the exit-k path trained alone (there is
#   something to teach), and KD from the plain network into the exit-k path beats that path alone (distillation
#   works here; for C16 this is also the two-stage procedure that one stage must match).
# - **C16** "one stage matches two" is a claim of equivalence: each shallow exit must lie within
#   ±{glue:text}`margin` points of its two-stage student, a margin set in this book's code after the runs were recorded, from the papers' numbers (under a
#   fifth of the smallest average gain the papers report for self-distillation). A difference that is merely not
#   significant is *inconclusive*, never a match.
# - **C16** "one stage costs less" compares the per-seed training times of one self-distillation run and of the
#   two-stage procedure (the plain network's run of that seed plus the three students of that seed), with Welch's
#   t: {glue:text}`seeds` times a side, each rough on a shared machine. It rests on no precondition.
# - **C15** is a count, not a test: the parameters and multiply-accumulates of the path up to each exit, on the
#   built networks. Latency is in the table above and takes no part in the verdict.

# %% tags=["hide-input"]
ours = chapter.chapter_claims(book_claims)
report.shown(claims.compact_table(ours))

# %% [markdown]
# Every comparison of these claims, with its test, p, Holm-adjusted p, the level that decided, MDE, SESOI and power
# (click to show; also as {download}`CSV <claims_04.csv>`):

# %% tags=["hide-input", "hide-output"]
details = claims.table(ours)
details.to_csv("claims_04.csv", index=False)
report.shown(details)

# %% [markdown]
# **Preconditions.** {glue:text}`precondition_note`
#
# **In short.** ICCV exits: {glue:text}`verdicts_ICCV`. TPAMI exits: {glue:text}`verdicts_TPAMI`. The deepest
# exit's test accuracy minus the plain network's is {glue:text}`deepest_ICCV` points with ICCV exits and
# {glue:text}`deepest_TPAMI` with TPAMI exits; the ensemble of the four exits minus the deepest exit is
# {glue:text}`ensemble_ICCV` and {glue:text}`ensemble_TPAMI` (effect [95 % interval]). One self-distillation run
# minus the two-stage procedure, in minutes of training: {glue:text}`time_ICCV` (ICCV exits) and
# {glue:text}`time_TPAMI` (TPAMI exits). These verdicts hold for the scale of this chapter (a narrow ResNet-10,
# {glue:text}`subset`, {glue:text}`epochs` epochs), not for the papers'.
#
# ## What the book adds: distillation or extra classifiers, and the hint
#
# Two questions the claims leave open, asked per exit: does self-distillation beat deep supervision (the same ICCV
# exits trained on the labels alone, α = λ = 0), that is, does the deepest exit's teaching add anything to the extra
# classifiers? And does the feature hint help, as the papers' loss assumes and users of the official code doubt?
# These are not claims of the papers and are outside the ledger: each cell is the effect with its 95 % interval and
# the raw p (paired t test: the runs share seeds and network), with no verdict and no correction. Among this many
# comparisons, a raw p below 0.05 can arise by chance.

# %% tags=["hide-input"]
report.shown(chapter.ablation_table(results))

# %% [markdown]
# ## Deviations
#
# ```{admonition} From the papers
# :class: note
# - Fashion-MNIST ({glue:text}`subset`, and as many test images) stands in for CIFAR-100, a narrow ResNet-10 for
#   ResNet-18, and {glue:text}`epochs` epochs with a cosine schedule and no augmentation for 200–250 epochs. The `paper` profile declares
#   ResNet-18 on CIFAR-100 with the official schedule and has not been run for this book. ImageNet and the other
#   backbones are not reproduced.
# - The papers' α, λ and T were not found; kdlib uses the official journal code's weights.
# - The KD term is written T²·KL(q_C^T ‖ q_i^T), the book's form throughout; the paper's equation, as reported
#   secondhand, has no T² (see below).
# - Mean ± std over seeds; the paper's table gives single numbers.
# ```
#
# :::{admonition} From the official journal code {cite}`zhang2021code`
# :class: note
# - Its KD term is a soft cross-entropy at T = 3 with weight 0.3 and **no T²**, so its pull on the shallow exits is
#   nine times weaker than kdlib's at the same α.
# - Its feature term is an **unsquared** distance, `torch.dist`, between a shallow exit's pooled features, passed
#   through a learned linear adaptation layer, and the deepest exit's; kdlib uses the squared distance, with no
#   adaptation layer: every exit here already pools to the deepest width.
# - It means to skip the feature term for the shallowest exit but skips index 1 of outputs ordered deepest first,
#   that is **exit 3/4**. kdlib applies the hint to every shallow exit.
# - AutoAugment and Cutout are on by default and cannot be switched off from the command line (`type=bool`); it
#   selects its reported model by **test-set** ensemble accuracy. kdlib reports the last epoch and uses no
#   augmentation.
# - Its adaptation layers are created after the first forward pass, and the optimiser is built again then.
# :::
#
# ## The runs behind the numbers
#
# Every number on this page comes from these run records (one per seed). Cite a number with its run id;
# `python -m kdlib reproduce <id>` re-trains that run and compares, and the {doc}`91_results` page links every
# record for download.

# %% tags=["hide-input", "hide-output"]
# a Styler, not a DataFrame: it shows every row
report.run_ids(TABLE).style

# %% [markdown]
# ## Compute spent and how to reproduce

# %% tags=["hide-input"]
page.compute_spent()

# %% [markdown]
# The {glue:text}`n_runs` distinct runs of this chapter took {glue:text}`total_minutes:.0f` minutes of training as
# their records measured them, as two single-threaded processes on a 2-core CPU: from the first run's start to the
# last run's end, {glue:text}`elapsed_minutes:.0f` minutes of wall-clock time. To re-create them, or to try other
# settings:
#
# ```bash
# python -m kdlib chapter self_distillation --profile cpu                    # every missing run
# python -m kdlib chapter self_distillation --profile cpu --workers 2      # two runs at a time, one thread each
# # one run of your own: TPAMI exits, a stronger KD pull and no hint
# python -m kdlib run --dataset fashion_mnist --model resnet10_narrow_sd_tpami --method self_distillation \
#     --param alpha=0.7 --param lam=0 --subset 8000 --epochs 5 --schedule warmup_cosine
# python -m kdlib page self_distillation --profile paper  # the GPU profile (CIFAR-100)
# ```
#
# The works cited on this page are listed under {doc}`references`.

# %% tags=["remove-input"]
page.footer()
