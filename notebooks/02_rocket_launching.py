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
# # Rocket Launching: a light net trained beside its booster
#
# {cite:t}`zhou2018rocket` train the small network that will be deployed (the *light net*) together with
# a larger *booster* that shares its lower layers. Both learn from the labels, and a hint loss pulls the light net's
# logits towards the booster's throughout training, not only after the booster has finished, as in KD. The verdicts
# first; the claims in full below.

# %% tags=["remove-cell"]
from kdlib.book import Page

_names_before_parameters = set(globals())

# %% tags=["parameters", "remove-cell"]
profile = "cpu"  # "smoke" (CI: tiny subsets, one epoch), "cpu" (the published book), "paper" (GPU recipes)
train_missing = True  # train runs whose record is missing; False: stop with an error instead
device = None  # None: CUDA when available, else CPU
dataset = None  # the dataset (Fashion-MNIST stands in for CIFAR-10 offline); None: the profile's
seeds = None  # the seeds of every seeded row; None: the profile's
epochs = None  # epochs of every run; None: the profile's
subset = None  # training images used ('all': every one); None: the profile's
lr = None  # the initial learning rate (SGD); None: the profile's

# %% tags=["remove-cell"]
page = Page.open(globals(), _names_before_parameters, "rocket_launching")
profile, chapter = page.profile, page.chapter

import matplotlib.pyplot as plt
from myst_nb import glue

from kdlib import claims, data, report

budget = chapter.budget(profile)
LIGHT_DEPTH, BOOSTER_DEPTH, WIDTH = budget["pair"]
DATASET_NAME = chapter.DATASET_NAMES[budget["dataset"]]
glue("profile", str(profile), display=False)
glue("seeds", len(budget["seeds"]), display=False)
glue("epochs", budget["epochs"], display=False)
glue("dataset_name", DATASET_NAME, display=False)
glue("light_name", f"WRN-{LIGHT_DEPTH}-{WIDTH}", display=False)
glue("booster_name", f"WRN-{BOOSTER_DEPTH}-{WIDTH}", display=False)
glue("subset", "the full training set" if budget["subset"] is None else f"{budget['subset']:,} training images",
     display=False)


# %% tags=["remove-input"]
book_claims = page.ledger()  # the book's claims ledger, computed once in this kernel
page.opening()

# %% [markdown]
# This page's knobs: the value this execution used, the published book's and the `paper` profile's, what each takes
# and what it means (click to show). `python -m kdlib page rocket_launching -p NAME VALUE` re-executes the page with another
# value, and `--dry-run` first lists the runs that would train and the minutes they would take.

# %% tags=["hide-input", "hide-output"]
page.knobs()

# %% [markdown]
# The claims, numbered as in the rest of the book:
#
# - **C6** the light net trained this way beats the light net alone, and beats KD from a separately trained booster;
# - **C7** gradient block, parameter sharing and joint training each contribute (Table 2 of the paper);
# - **C8** the logit hint L_mimic beats an MSE on softmax outputs and a temperature-softened KD loss (Table 3);
# - **C9** one joint run costs less than training the booster and the light net one after the other.
#
# The paper's experiments use Wide ResNets {cite}`zagoruyko2016wide` on CIFAR-10, CIFAR-100 and SVHN, plus
# advertising data, for 200 epochs. This chapter tests C6–C9 on **Fashion-MNIST {cite}`xiao2017fashion` as a stand-in
# for CIFAR-10**, at a scale a 2-core CPU can train.
#
# ```{admonition} Stand-in data, smaller networks, shorter training
# :class: warning
# - **Data and networks.** CIFAR-10 cannot be downloaded where this book is built. The paper's smallest pair
#   (WRN-16-1 light, WRN-40-1 booster) costs hours per run on this CPU. The `cpu` profile therefore uses a WRN-10-1
#   light net and a WRN-16-1 booster: the same family, with one and two blocks per group where the paper's pair has
#   two and six.
# - **Budget.** {glue:text}`subset` of Fashion-MNIST (a fixed random draw; a quarter as many again, or
#   5,000 for the full set, are held out for validation), {glue:text}`epochs` epochs and no augmentation. Test accuracy is measured on as many of the
#   first test images (at most all 10,000). A joint
#   run trains and evaluates two networks, and the chapter's runs, most of them joint, were sized to fit in about
#   an hour on two CPU cores (the last section gives what they took): that is what sets this scale.
# - **Reading the numbers.** They are not CIFAR-10 numbers. The paper's tables are shown beside ours for the pattern
#   of gains, in its own unit (test error %); ours are given as errors and as accuracies, and every row says which
#   data it is on.
# ```

# %% [markdown]
# ## The method
#
# Write $l(x)$ for the light net's logits and $p = \mathrm{softmax}(l)$, and $z(x)$, $q = \mathrm{softmax}(z)$ for
# the booster's. The parameters split into shared ones $W_S$, light-only ones $W_L$ and booster-only ones $W_B$.
# Both networks train at once on (Eq. 1)
#
# $$ \mathcal{L}(x; W_S, W_L, W_B) = H(y, p) + H(y, q) + \lambda \lVert l(x) - z(x) \rVert_2^2 , $$
#
# with the hint term summed over logits and averaged over the batch (as the official code computes it). The
# alternatives of the paper's Table 3 replace the hint with $\lVert p - q\rVert^2$ (L_MSE) or a temperature-softened
# KD loss (L_KD; here $T^2\,\mathrm{KL}(q_T \Vert p_T)$ at $T = 4$).
#
# **Gradient block.** The hint's gradient must not reach $W_B$: the booster learns from the labels alone and is not
# dragged towards the weaker light net. kdlib implements it as the official code does: the hint sees the booster's
# logits detached. The hint still trains $W_S$, through the light net's path. The cell below checks this on a real
# batch. It back-propagates the hint term alone and measures the gradient norm that reaches each group of
# parameters, with gradient block on and off.
#
# **Sharing.** The paper's two schemes are shown below. In **(b) interval sharing** (Fig. 3b) the light net runs the
# booster's stem and the first block of each of its three groups, skipping the booster's other blocks. In **(a) bottom
# sharing** (Fig. 3a) the light net branches off after the stem and the booster's first group and has groups two and
# three of its own. The convolution weights are shared tensors. The light net keeps its own BatchNorm layers and
# classifier, as the official code does: its features, and so their statistics, are not the booster's.

# %% tags=["hide-input"]
chapter.sharing_figure(profile)
plt.show()

# %% tags=["hide-input"]
dataset = data.load(budget["dataset"])
batch, batch_labels = chapter.validation_batch(profile, dataset)
report.shown(chapter.gradient_block_table(chapter.pair_models(profile, dataset.image_shape, dataset.n_classes),
                                          batch, batch_labels))

# %% [markdown]
# With gradient block on, the booster's own parameters receive exactly zero gradient from the hint; with it off,
# they do. Without sharing there are no shared parameters. The official code exposes both switches as
# `type=bool` command-line flags, so `--grad_block False` still turns gradient block *on*. In kdlib each switch
# is a number that the tests check changes the gradients.
#
# ## Setup (the book's choices)
#
# - **Light net and booster.** {glue:text}`light_name` and {glue:text}`booster_name` (pre-activation Wide ResNets:
#   a 3×3 stem, three groups at widths 16, 32 and 64, global average pooling).
# - **Recipe.** {glue:text}`epochs` epochs of SGD with Nesterov momentum 0.9, batch 128, learning rate 0.1 (the
#   paper's), weight decay 5·10⁻⁴ (the code's), a one-epoch linear warm-up and cosine decay; no augmentation, so
#   the booster's logits can be cached for KD and for the "no joint training" ablation. The paper trains 200
#   epochs with the learning rate ×0.2 at epochs 60, 120 and 160; that is the `paper` profile.
# - **λ.** The paper does not give it; the official commands use 0.03. Each hint loss gets its λ from a grid of
#   three, chosen on the final-epoch *validation* accuracy of the light net (seed 0, interval sharing). The test set
#   chose nothing.
# - **Baselines.** Light net alone; booster alone (its seed-0 run is also the teacher of KD, of rocket + KD and of
#   the "no joint training" ablation); KD from the booster with α = 0.9 and T = 4, as in the official code. All rows
#   are run with {glue:text}`seeds` seeds. The paper reports the median of 3 runs; here it is the mean ± std.

# %% tags=["hide-output"]
results = page.results()
TABLE = results["table"]  # the run ids at the end read it
for name, value in chapter.page_numbers(results, book_claims).items():
    glue(name, value, display=False)

# %% tags=["hide-input"]
report.shown(chapter.setup_table(results))

# %% [markdown]
# ### λ, chosen on validation
#
# Final validation accuracy (%) of the light net, seed 0, interval sharing:

# %% tags=["hide-input"]
report.shown(chapter.lambda_table(results))

# %% [markdown]
# ## The light net against its baselines (C6; Table 1 of the paper)
#
# Test error (%) of the light net, with accuracy in parentheses, mean ± std over {glue:text}`seeds` seeds.
# "booster (inside rocket)" is the booster of the same joint runs, "booster alone" is the booster trained by itself.
# The paper's row for the same scheme is below each of ours (WRN-16-1 light, WRN-40-1 booster, CIFAR-10, median of
# 3 runs).

# %% tags=["hide-input"]
report.shown(chapter.table_one(results))

# %% [markdown]
# Test accuracy per epoch of the light net and of the booster, alone and inside the interval-sharing rocket (mean
# over seeds, band one standard deviation):

# %% tags=["hide-input"]
chapter.learning_curves(results)
plt.show()

# %% [markdown]
# ## What each part contributes (C7; Table 2 of the paper)
#
# Interval sharing (b). Each ablation removes one part of the method:
# - **no gradient block**: the hint also trains the booster's own parameters;
# - **no sharing**: two separate networks, still trained jointly;
# - **no joint training**: the booster alone is trained first, then the light net starts from its stem and
#   first blocks and learns CE + λ‖l − z‖² against the fixed booster's logits.

# %% tags=["hide-input"]
report.shown(chapter.ablation_table(results))

# %% [markdown]
# ## Which hint (C8; Table 3 of the paper)
#
# Interval sharing (b), each hint at its own λ chosen on validation:

# %% tags=["hide-input"]
report.shown(chapter.hint_table(results))

# %% [markdown]
# ## Training and inference cost (C9)
#
# Training time per run as the records measured it: the optimisation steps of every epoch, without the per-epoch
# evaluation (which a joint run does for two networks). Seconds, mean over seeds. All runs shared a 2-core CPU as
# two single-threaded processes, often beside other work on the same machine, so these wall times are rough: the
# same run can take noticeably longer when its neighbour is busy. C9's test below compares the per-seed times and
# says how large a difference that noise lets it see.

# %% tags=["hide-input"]
report.shown(chapter.cost_table(results))

# %% [markdown]
# At equal epochs and on average over seeds, the interval-sharing run took {glue:text}`joint_ratio_b:.2f` times the
# training time of the booster and the light net trained one after the other, and the bottom-sharing run
# {glue:text}`joint_ratio_a:.2f` times (rough ratios, see above; C9's verdict is in the claims table). By design,
# interval sharing saves only the stem's forward pass, because the light net's path runs the shared blocks on its
# own features, while bottom sharing computes the whole first group once for both nets. In the paper, the joint
# run's saving on CIFAR-10 comes partly from fewer epochs (180 for the joint run, against 173 for the booster plus
# 165 for the light net, as the paper reports them); this book trains every variant for the same number of epochs.
#
# At inference only the light net runs. Parameters, weights on disk and CPU latency of the deployed light nets and
# of the booster:

# %% tags=["hide-input"]
report.shown(chapter.inference_table(profile, dataset.image_shape, dataset.n_classes))

# %% [markdown]
# Latency measured with {glue:text}`threads` CPU threads when this page was built.
#
# ## Why KD from the booster fails here: a control study on validation
#
# At this scale KD from the separately trained booster does worse than the light net alone (the second
# precondition below), so every claim that compares Rocket with KD is untestable. Three suspects, each an arm below
# that changes one thing and keeps the rest of the chapter's setting:
# - **strength**: kdlib's KD term (KL summed over the classes × T²) is K/2 = 5 times the official code's at the
#   same α and T (see the deviations); "KD, code's term" is the same run with the code's weighting (`scale=0.2`),
#   and the α arms weaken the soft term in kdlib's own convention;
# - **the learning rate**: the light net alone and both KD variants at other rates, the booster-teacher kept;
# - **the budget**: the light net, its booster-teacher and both KD variants trained longer.
#
# Every cell is read on the **validation** split (never the test set): the arm's mean ± std of the light net alone,
# and each row minus it, mean [95 % interval] over {glue:text}`seeds` seeds (paired by seed where the network is
# the same, Welch's t for the booster). ✓ marks a control that would pass there (interval wholly above zero,
# unadjusted, as for the preconditions). The KD runs learn from the seed-0 booster of their arm.
#
# One caveat on the chapter's-setting row: the study's new KD runs were trained later, on another machine, from a
# booster re-trained there from its record's spec (its checkpoint is not kept), and a re-training on another
# processor does not reproduce a record bit for bit (the {doc}`91_results` page names each record's processor).
# The chapter's own KD row learned from the original. There the two weightings therefore also differ by their
# teacher's re-training; within every other arm both learn from one booster.

# %% tags=["hide-input"]
report.shown(chapter.control_table(results))

# %% [markdown]
# On validation the booster beats the light net alone in: {glue:text}`controls_teacher`. KD in kdlib's term beats
# it in: {glue:text}`controls_book`; KD in the official code's term in: {glue:text}`controls_code`.
#
# Both KD variants at the chapter's setting on the **test** set, reported side by side (the claims below keep
# kdlib's term as their KD baseline; the code's is the stated variant):

# %% tags=["hide-input"]
report.shown(chapter.kd_on_test(results))

# %% [markdown]
# ## A second testbed: an MLP pair after the paper's ads design
#
# In no arm of the control study (KD's strength, the learning rate, a four-times longer budget) did the booster or
# KD from it beat the light net alone on validation, though the intervals are wide: on this pair the WRN booster
# is not shown to know more than its light net, and C6–C8 cannot be judged on it whatever Rocket does. The chapter
# therefore piloted a second testbed built on the paper's one non-image experiment (its Table 5, display
# advertising), where the two networks share their bottom layer and the
# booster is wider and deeper above it: a shared 784→256 layer, a light tower of 64 units, a booster tower of two
# 1,024-unit layers with dropout 0.2 (kept when it trains alone); Fashion-MNIST at 10,000 training images (a fixed
# draw after the 5,000 validation images are carved; the test set all 10,000), no augmentation, Adam at 10⁻³
# multiplied by 0.2 at half and three quarters of 60 epochs; each KD student taught by the booster of its own
# seed. The fallbacks, in order: 5,000 images for twice the epochs; a light tower of 32 units; and, added after
# both failed, R-1 on a 100-class task built from Fashion-MNIST (two garments stacked as two channels, labelled
# 10 a + b; 10,000 training pairs), since the paper's gains are largest on its 100-class data (CIFAR-100).
# Candidates were piloted in a fixed order (seeds 0–1, read on validation) against two gates written in
# `kdlib/chapters/rocket_launching.py` before any of their runs: the booster alone must beat the light net alone
# by at least {glue:text}`r1_booster_gate` points, and KD from it (the official code's α 0.9, T 4) must beat the
# light net alone by at least {glue:text}`r1_kd_gate` point. Testbeds piloted, in order: {glue:text}`r1_tried`.
# Outcome: {glue:text}`r1_outcome`. An MLP pair has one place to branch, so R-1 cannot test interval sharing
# (Fig. 3b) or the depth study (Fig. 4), and these are Fashion-MNIST settings, not the paper's CIFAR-10 or CIFAR-100.

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
# failed at this scale. An effect is ours minus the comparison, in accuracy points (C9: in minutes of training), with
# its 95 % interval.
#
# C6–C8 rest on two preconditions, checked on the records: the booster alone beats the light net alone (else it has
# nothing to teach), and KD from the separately trained booster beats the light net alone (else distilling from the
# booster does not work at this scale, and beating the KD baseline says nothing about the paper). C9 is about cost
# alone and rests on neither.

# %% tags=["hide-input"]
ours = chapter.own_claims(book_claims)
report.shown(claims.compact_table(ours))

# %% [markdown]
# Every comparison of these claims, with its test, p, Holm-adjusted p, the level that decided, MDE, SESOI and power
# (click to show; also as {download}`CSV <claims_02.csv>`):

# %% tags=["hide-input", "hide-output"]
details = claims.table(ours)
details.to_csv("claims_02.csv", index=False)
report.shown(details)

# %% [markdown]
# **Preconditions.** {glue:text}`precondition_note`
#
# **In short.** The verdicts: {glue:text}`verdicts`. With interval sharing, the light net's test accuracy minus the
# light net alone is {glue:text}`rocket_vs_base` points, and minus KD from the booster {glue:text}`rocket_vs_kd`
# (effect [95 % interval]). With {glue:text}`seeds` seeds a side, the accuracy comparisons of C6–C8 could detect
# differences of {glue:text}`mde_range` points or more (MDE, 80 % power); smaller effects can pass unseen at this
# scale. C9 is {glue:text}`c9_reading`. These verdicts hold for the scale of this chapter (a
# {glue:text}`light_name`/{glue:text}`booster_name` pair, {glue:text}`subset`, {glue:text}`epochs` epochs), not for
# the paper's.
#
# ## Deviations
#
# ```{admonition} From the paper
# :class: note
# - Fashion-MNIST ({glue:text}`subset`, and as many test images) stands in for CIFAR-10. The pair is
#   WRN-10-1/WRN-16-1 instead of WRN-16-1/WRN-40-1, trained for {glue:text}`epochs` epochs with a cosine schedule
#   and no augmentation, instead of 200 epochs with
#   steps and crop + flip. The `paper` profile declares the paper's pair and recipe on CIFAR-10 and has not been
#   run for this book. SVHN, CIFAR-100 and the advertising experiment are not reproduced.
# - λ is not given in the paper; each hint's λ is chosen on validation from a grid of three. The paper's L_KD is
#   written H(p/T, q/T); kdlib uses T²·KL(q_T ‖ p_T) at T = 4, which has the same gradient up to the T² factor.
# - Mean ± std over {glue:text}`seeds` seeds, where the paper reports the median of 3.
# - The AT baseline (attention transfer) of Tables 1 and 4 is not implemented.
# ```
#
# :::{admonition} From the official code {cite}`zhou2018code`
# :class: note
# - Its `--grad_block` and `--param_share` flags are parsed with `type=bool`, so the README's `False` leaves both
#   switched on and its Table 2 commands cannot reproduce the ablations. kdlib's switches are tested to change the
#   gradients (gradient block) and the parameter set (sharing).
# - Interval sharing as coded shares the stem and the convolutions of the first blocks of each group and gives the
#   light net its own BatchNorm layers and classifier; kdlib does the same. Its bottom-sharing file reuses the
#   booster's convolutions with other BatchNorms and hard-codes six blocks per group; kdlib's bottom scheme shares
#   the booster's first group outright and gives the light net its own (shorter) groups two and three.
# - Its KD baseline is KL × T² × 2α + (1 − α)·CE with the KL averaged over batch × classes; kdlib's `kd` is
#   (1 − α)·CE + α·T²·KL per sample (α = 0.9, T = 4 in both). Averaging over the K classes divides the code's KL
#   by K and its factor 2 doubles it, so **kdlib's KD term is K/2 = 5 times the official code's** (K = 10) at the
#   same α and T. The control study above runs KD in both weightings (`scale=0.2` is the code's); on validation
#   the code's term beats the light net alone in: {glue:text}`controls_code`. In its rocket + KD the light net's
#   CE keeps weight 1; kdlib's `rocket_kd` does the same.
# :::
#
# ## The runs behind the numbers
#
# Every number on this page comes from these run records (one per seed). Cite a number with its run id;
# `python -m kdlib reproduce <id>` re-trains that run and compares, and the {doc}`91_results` page links every
# record for download.

# %% tags=["hide-input", "hide-output"]
# a Styler, not a DataFrame: it shows every row
report.run_ids({**TABLE, **{f"λ grid: {hint}, λ={lam:g}": [record] for hint, cells in results["grid"].items()
                          for lam, record in cells.items()},
                **{f"control study, {arm}: {row}": records for arm, rows in results["controls"].items()
                   for row, records in rows.items()}}).style

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
# python -m kdlib chapter rocket_launching --profile cpu                      # every missing run, stage by stage
# python -m kdlib chapter rocket_launching --profile cpu --workers 2      # two runs at a time, one thread each
# # one joint run of your own: bottom sharing, the KD hint at λ = 1, gradient block off
# python -m kdlib run --dataset fashion_mnist --model rocket_10_16_1_bottom --method rocket --param hint=kd \
#     --param lam=1 --param grad_block=0 --subset 5000 --epochs 6 --schedule warmup_cosine
# python -m kdlib page rocket_launching --profile paper   # the GPU profile (CIFAR-10)
# ```
#
# The works cited on this page are listed under {doc}`references`.

# %% tags=["remove-input"]
page.footer()
