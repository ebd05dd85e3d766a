"""The noisy-teachers page's tables, figures and glued numbers (``kdlib.chapters.noisy_teachers``), on hand-made
records: each test checks the values a reader sees (a mean, an order, a formatted cell, a marker)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from kdlib import report  # noqa: E402
from kdlib.chapters import noisy_teachers as chapter  # noqa: E402
from kdlib.spec import RunSpec  # noqa: E402
from test_noisy import _dataset, _record  # noqa: E402

FASHION = "fashion_mnist"


def _with_pilots(result, ce=(1.0, 0.1, 0.01), l2=(0.1, 0.01, 0.001), chosen=(0.1, 0.01), diverged_l2=0.1):
    """``result`` with seed-0 learning-rate pilots (grids given in descending order, so that a table must sort them),
    the chosen rates, and dropout sweeps at every L2 rate (one of them diverged at the chosen rate)."""
    dataset = result["dataset"]
    result["pilots"] = {
        "ce": {lr: _record(80.0 + 10 * lr, 0, dataset) for lr in ce},
        "l2": {lr: _record(None if lr == diverged_l2 else 85.0 + 10 * lr, 0, dataset, method="logit_regression")
               for lr in l2}}
    result["learning_rates"] = {"ce": chosen[0], "l2": chosen[1]}
    result["sweeps"]["dropout"] = {
        (model, lr): _record(None if (model, lr) == ("mlp_2x100_drop50", chosen[1]) else 90.0, 0, dataset,
                             model=model, method="logit_regression")
        for model in chapter.DROPOUT_STUDENTS for lr in l2}
    return result


def _found(**changes):
    """Both datasets' results, MNIST first; ``changes`` go to the MNIST ``_dataset``."""
    return {"mnist": _with_pilots(_dataset("mnist", **changes)), FASHION: _with_pilots(_dataset(FASHION))}


def _curve_record(seed, values, label_shift=0.0):
    record = _record(values[-1] * 100, seed)
    record["history"] = [{"epoch": epoch + 1, "test_acc": value + label_shift, "train_acc": 0.9}
                         for epoch, value in enumerate(values)]
    return record


# --- tables -------------------------------------------------------------------------------------------------------

def test_pilot_table_sorts_rates_ascending_marks_the_choice_and_says_what_is_missing():
    table = chapter.pilot_table(_with_pilots(_dataset("mnist")))
    assert list(table.columns) == ["learning rate", "student on labels (CE)", "logit regression (L2)"]
    assert list(table["learning rate"]) == ["0.001", "0.01", "0.1", "1"]  # numeric order, printed as written
    row = table.set_index("learning rate")
    assert row.loc["0.1", "student on labels (CE)"] == "81.00 ← chosen"
    assert row.loc["0.01", "logit regression (L2)"] == "85.10 ← chosen"
    assert row.loc["0.1", "logit regression (L2)"] == "diverged"
    assert row.loc["0.001", "student on labels (CE)"] == "–" and row.loc["1", "logit regression (L2)"] == "–"
    assert row.loc["1", "student on labels (CE)"] == "90.00"  # not chosen: no marker


def test_baseline_table_gives_means_errors_and_gains_against_logit_regression():
    result = _dataset("mnist", l2=1.0, noisy=1.0)  # labels 90, regression 91, noisy 92 (+0.01 mean seed wobble)
    table = chapter.baseline_table(result)
    assert list(table.columns)[:2] == ["method", "test accuracy (%)"]  # the key is a column: shown without index
    assert list(table["method"]) == ["teacher (seed 0)", *result["table"]]
    row = table.set_index("method")
    assert row.loc["teacher (seed 0)", "test accuracy (%)"] == "99.00"
    assert row.loc["teacher (seed 0)", "Δ vs logit regression (points) [95 % CI]"] == ""
    assert row.loc["logit regression", "test accuracy (%)"] == "91.01 ± 0.01"
    assert row.loc["noisy teacher", "test errors (per 10,000)"] == "799"
    assert row.loc["noisy teacher", "relative error reduction (%)"] == "+11.1"  # (8.99 − 7.99) / 8.99
    assert row.loc["noisy teacher", "relative accuracy gain (%)"] == "+1.10"  # 1 / 91.01
    assert row.loc["noisy teacher", "Δ vs logit regression (points) [95 % CI]"].startswith("+1.00 [")
    assert row.loc["noisy teacher", "Δ vs logit regression (points) [95 % CI]"].endswith("(paired)")
    assert row.loc["noisy teacher", "setting"] == "mlp_2x100; alpha=0.6, sigma=0.1; lr=0.003"
    assert row.loc["noisy teacher", "run ids"] == " ".join(r["id"] for r in result["table"]["noisy teacher"])


def test_run_setting_counts_several_teachers():
    spec = {"model": "mlp_2x100", "method": "logit_regression", "method_params": {}, "lr": 0.001,
            "extra_teachers": [{}, {}]}
    assert chapter.run_setting(spec) == "mlp_2x100; 3 teachers; lr=0.001"


def test_sweep_frame_is_sorted_counts_a_diverged_run_at_chance_and_labels_each_cell():
    result = _dataset("mnist", largest_sigma=None)  # every σ = 1.6 cell diverged
    result["sweeps"]["noisy_teacher"] = dict(reversed(list(result["sweeps"]["noisy_teacher"].items())))
    frame = chapter.sweep_frame(result, "noisy_teacher")
    val = frame[frame["split"] == "val"]
    assert list(zip(val["α"], val["σ"])) == [(0.2, 0.1), (0.2, 1.6), (0.6, 0.1), (0.6, 1.6), (1.0, 0.1), (1.0, 1.6)]
    diverged = val[val["σ"] == 1.6]
    assert set(diverged["status"]) == {"diverged"} and set(diverged["label"]) == {"diverged"}
    assert diverged["accuracy"].tolist() == [10.0] * 3 and diverged["shown"].isna().all()
    first = val.iloc[0]  # 91.0 against seed 0's logit regression at 91.0 + 0.004 (its turned wobble)
    assert first["status"] == "ok" and first["label"] == "91.00\n(-0.00)"
    assert first["delta"] == pytest.approx(-0.004)


def test_gap_table_reads_the_gap_the_choice_and_the_sigma_extremes():
    found = {"mnist": _dataset("mnist", largest_sigma=None), FASHION: _dataset(FASHION, largest_sigma=-10.0)}
    table = chapter.gap_table(found)
    assert list(table["dataset"]) == ["MNIST", "Fashion-MNIST"]
    mnist = table.iloc[0]
    assert (mnist["teacher, seed 0 (%)"], mnist["logit regression (%)"], mnist["gap (points)"]) == \
        ("99.00", "91.01", "7.99")
    assert (mnist["chosen α"], mnist["chosen σ"]) == ("0.6", "0.1")  # as written, not 0.600000
    assert mnist["cells collapsed or diverged"] == 3
    assert mnist["test acc. at σ = 0.1 (%)"] == "91.30" and mnist["test acc. at σ = 1.6 (%)"] == "10.00"
    assert table.iloc[1]["test acc. at σ = 1.6 (%)"] == "81.47"  # 91.3 − 10 + (0 + 0.1 + 0.4) / 3
    assert table.iloc[1]["cells collapsed or diverged"] == 0


def test_ensemble_table_gives_each_group_over_its_seeds():
    table = chapter.ensemble_table({"mnist": _dataset("mnist", several=0.5), FASHION: _dataset(FASHION)})
    assert list(table.columns) == ["dataset", "the teachers (%)", "logit regression, teacher 0 (%)",
                                   "noisy teacher 0 (%)", "several teachers, one drawn per row (%)"]
    mnist = table.iloc[0]
    assert mnist["dataset"] == "MNIST" and mnist["the teachers (%)"] == "99.00 ± 0.10"
    assert mnist["noisy teacher 0 (%)"] == "92.01 ± 0.01"
    assert mnist["several teachers, one drawn per row (%)"] == "91.51 ± 0.01"


def test_cost_table_counts_from_the_records_and_measures_the_built_models():
    table = chapter.cost_table({"mnist": _dataset("mnist"), FASHION: _dataset(FASHION)}, repeats=1)
    assert list(zip(table["dataset"], table["role"])) == [("MNIST", "teacher"), ("MNIST", "student"),
                                                          ("Fashion-MNIST", "teacher"), ("Fashion-MNIST", "student")]
    teacher = table.iloc[0]
    assert teacher["model"] == "lenet5" and teacher["multiply-accumulates"] == "416,520"
    assert teacher["parameters"] == "61,706"  # counted on the built LeNet-5
    assert table.iloc[1]["parameters"] == "89,610"
    assert teacher["latency, batch 1 (ms)"].count(".") == 1 and len(teacher["latency, batch 1 (ms)"].split(".")[1]) == 3
    assert len(teacher["latency, batch 256 (ms)"].split(".")[1]) == 2
    assert float(teacher["weights on disk (KiB)"]) > 61_706 * 4 / 1024  # float32 weights, at least


def test_identity_table_prints_sigma_as_written_and_four_digits_elsewhere():
    identities = pd.DataFrame({"σ": [1.6, 0.1], "clean loss": [12.3456789, 12.3456789]})
    table = chapter.identity_table(identities)
    assert table["σ"].tolist() == ["0.1", "1.6"] and table["clean loss"].tolist() == ["12.35", "12.35"]


def test_identity_numbers_are_the_worst_deviation_and_the_worst_gradient_ratio():
    identities = pd.DataFrame({
        "σ": [0.1, 1.6],
        "teacher noise: Monte-Carlo": [10.1, 20.0], "teacher noise: clean + σ²‖z‖²/2": [10.0, 20.0],
        "student noise: Monte-Carlo": [5.0, 7.7], "student noise: clean + σ²‖s‖²/2": [5.0, 7.0],
        "gradient: RMS(mean − clean)": [0.01, 0.3], "gradient: RMS sampling error σ|z|/√n": [0.02, 0.2]})
    numbers = chapter.identity_numbers(identities)
    assert numbers["mc_loss_deviation"] == pytest.approx(10.0)  # the student's 7.7 against 7.0
    assert numbers["mc_gradient_ratio"] == pytest.approx(1.5)


def test_setup_specs_are_read_back_from_the_records():
    teacher = RunSpec("mnist", "lenet5", epochs=20, lr=0.05)
    labels = RunSpec("mnist", "mlp_2x100", epochs=20, lr=0.1, schedule="warmup_cosine")
    noisy = labels.replace(lr=0.01, method="noisy_teacher", teacher=teacher,
                           method_params=(("alpha", 0.6), ("sigma", 0.1)))
    result = {"dataset": "mnist", "teachers": [{"id": teacher.id, "spec": teacher.to_dict()}],
              "table": {"student on labels": [{"id": labels.id, "spec": labels.to_dict()}],
                        "noisy teacher": [{"id": noisy.id, "spec": noisy.to_dict()}]}}
    specs = chapter.setup_specs(result)
    assert list(specs) == ["MNIST teacher", "student on labels", "noisy teacher (chosen)"]
    assert specs["noisy teacher (chosen)"] == noisy and specs["noisy teacher (chosen)"].id == noisy.id
    assert specs["MNIST teacher"] == teacher


# --- figures ------------------------------------------------------------------------------------------------------

def test_sweep_heatmaps_label_the_axes_as_written_in_numeric_order():
    result = _dataset("mnist")
    result["sweeps"]["noisy_teacher"] = dict(reversed(list(result["sweeps"]["noisy_teacher"].items())))
    figure = chapter.sweep_heatmaps(result, "noisy_teacher", "MNIST, noisy teacher")
    val, test = figure.axes[:2]  # then their two colour bars
    assert val.get_title() == "MNIST, noisy teacher: validation (selects)"
    assert test.get_title() == "MNIST, noisy teacher: test (reported only)"
    assert [label.get_text() for label in val.get_xticklabels()] == ["0.1", "1.6"]
    assert [label.get_text() for label in val.get_yticklabels()] == ["0.2", "0.6", "1"]
    assert "91.00\n(-0.00)" in [text.get_text() for text in val.texts]
    plt.close(figure)


def test_learning_curve_figure_draws_each_row_mean_per_dataset():
    found = {}
    for dataset in ("mnist", FASHION):
        table = {label: [_curve_record(seed, [0.5 + 0.1 * k, 0.6 + 0.1 * k]) for seed in range(2)]
                 for k, label in enumerate(chapter.CURVE_ROWS)}
        table[chapter.CURVE_ROWS[0]][1] = _curve_record(1, [0.7, 0.8])  # seeds 0.5/0.7 at epoch 1: mean 60 %
        found[dataset] = {"dataset": dataset, "table": table}
    figure = chapter.learning_curve_figure(found)
    axes = figure.axes
    assert [ax.get_title() for ax in axes] == ["MNIST", "Fashion-MNIST"]
    labels = [text.get_text() for text in axes[0].get_legend().get_texts()]
    assert labels == list(chapter.CURVE_ROWS)
    first = axes[0].get_lines()[0]
    assert np.allclose(first.get_ydata(), [60.0, 70.0])  # the mean over seeds, in points
    plt.close(figure)


# --- the numbers glued into the prose ------------------------------------------------------------------------------

def test_page_numbers_glue_every_name_the_prose_reads():
    found = _found(noisy=1.0)
    every = report.records_in(found)
    for record in every:  # a student took a minute, any other run ten
        record["provenance"] = {"wall_time_s": 60.0 if record["spec"]["model"].startswith("mlp") else 600.0}
    book_claims = chapter.claims({"profile": "cpu", "datasets": found})
    numbers = chapter.page_numbers(found, book_claims)
    assert numbers["mnist_dropout_n"] == 2 and numbers["mnist_dropout_failed"] == 1
    assert numbers["mnist_grid_edges"] == "none: both chosen rates lie inside their grids"
    assert numbers["mnist_margin"] == "0.1" and numbers["other_margin"] == "0.5"
    assert numbers["mnist_size_ratio"] == pytest.approx(89_610 / 61_706)
    assert numbers["mnist_work_ratio"] == pytest.approx(89_400 / 416_520)
    assert numbers["mnist_c1_verdict"] == "supported" and numbers["mnist_c1_effect"].startswith("+1.00 [")
    assert numbers["mnist_c2_verdict"] == "supported"  # the largest σ is 10 points lower at every α
    assert numbers["mnist_l2_control_holds"] == "holds" and numbers["mnist_l2_control"].startswith("+1.00 [")
    assert numbers["mnist_rates"] == "0.01 for L2 against 0.1 for cross-entropy"
    assert numbers["other_teacher"] == "LeNet-5" and isinstance(numbers["threads"], int)
    n_students = sum(record["spec"]["model"].startswith("mlp") for record in every)
    assert 0 < n_students < len(every) and numbers["student_minutes"] == pytest.approx(n_students)
    glued = {"student_minutes", "mnist_dropout_failed", "mnist_dropout_n", "mnist_grid_edges", "mnist_margin",
             "other_margin", "threads",
             "other_teacher", *(f"{key}_{name}" for key in ("mnist", "other") for name in (
                 "size_ratio", "work_ratio", "c1_effect", "c1_verdict", "c2_verdict", "l2_control",
                 "l2_control_holds", "rates"))}
    assert set(numbers) == glued


def test_page_numbers_name_a_choice_at_the_end_of_its_grid():
    found = _found()
    found["mnist"]["learning_rates"] = {"ce": 1.0, "l2": 0.01}
    numbers = chapter.page_numbers(found, chapter.claims({"profile": "cpu", "datasets": found}))
    assert numbers["mnist_grid_edges"] == "cross-entropy (the best rate may lie beyond the grid)"


def test_a_claim_that_is_not_there_is_an_error_not_the_next_one():
    found = _found()
    book_claims = chapter.claims({"profile": "cpu", "datasets": found})
    assert chapter.chapter_claim(book_claims, "C2", "mnist", "too much noise").statement.startswith("too much noise")
    with pytest.raises(LookupError, match="0 claims C2 of noisy_teachers on mnist"):
        chapter.chapter_claim(book_claims, "C2", "mnist", "no such statement")
