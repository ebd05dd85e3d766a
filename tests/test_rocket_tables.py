"""The Rocket Launching page's tables and figures (kdlib/chapters/rocket_launching.py), on hand-made records."""

import math
import re

import matplotlib
import pandas as pd
import pytest
import torch

matplotlib.use("Agg")

from kdlib.chapters import rocket_launching as chapter  # noqa: E402
from kdlib.methods.rocket import RocketNet  # noqa: E402
from kdlib.spec import RunSpec  # noqa: E402
from test_rocket import ROWS, _results  # noqa: E402


def _record(label, seed, accuracy, booster=None, seconds=(10.0, 20.0), val=None, model=None, method=None):
    """One run record: final test accuracy (a fraction, as records hold it), the booster's inside a joint run, the
    training seconds per epoch, and a history whose last epoch carries the final accuracies."""
    metrics = {"test_acc": accuracy, "val_acc": val}
    if booster is not None:
        metrics["booster_test_acc"] = booster
    history = [{"epoch": epoch + 1, "step": 10 * (epoch + 1), "train_time_s": time,
                "test_acc": accuracy - 0.1 * (len(seconds) - 1 - epoch),
                **({"booster_test_acc": booster - 0.05 * (len(seconds) - 1 - epoch)} if booster is not None else {})}
               for epoch, time in enumerate(seconds)]
    row_model, row_method = ROWS.get(label, ("wrn_10_1", "ce"))
    return {"id": f"{label}-{seed}", "metrics": metrics, "history": history,
            "spec": {"seed": seed, "dataset": "fashion_mnist", "model": model or row_model,
                     "method": method or row_method, "subset": 5000, "val_size": 5000, "batch_size": 128}}


def _rows(label, accuracies, booster=None, seconds=(10.0, 20.0)):
    return [_record(label, seed, acc, None if booster is None else booster[seed], seconds)
            for seed, acc in enumerate(accuracies)]


def _table():
    """Every row at accuracies 0.80/0.81/0.82 (81.00 ± 1.00 points), except where a test needs another value."""
    table = {label: _rows(label, (0.80, 0.81, 0.82)) for label in ROWS}
    table["rocket (b)"] = _rows("rocket (b)", (0.83, 0.84, 0.85), booster=(0.88, 0.90, 0.92), seconds=(40.0, 50.0))
    table["rocket (a)"] = _rows("rocket (a)", (0.82, 0.82, 0.82), booster=(0.87, 0.87, 0.87), seconds=(30.0, 30.0))
    table["booster alone"] = _rows("booster alone", (0.86, 0.86, 0.86), seconds=(30.0, 30.0))
    return table


def _page_results(grid=None, lambdas=None):
    return {"profile": "cpu", "table": _table(),
            "grid": grid or {"mimic": {0.03: _record("grid", 0, 0.8, val=0.8)}},
            "lambdas": lambdas or {"mimic": 0.03, "mse": 3.0, "kd": 1.0}}


def test_error_cell_gives_the_error_then_the_accuracy_in_points():
    records = _rows("light alone", (0.80, 0.81, 0.82))
    assert chapter.error_cell(records) == "19.00 ± 1.00 (acc 81.00 ± 1.00)"
    records[2]["metrics"]["test_acc"] = None  # a diverged run is left out and counted
    assert chapter.error_cell(records) == "19.50 ± 0.71 (1 diverged) (acc 80.50 ± 0.71 (1 diverged))"
    joint = _rows("rocket (b)", (0.8, 0.8, 0.8), booster=(0.90, 0.91, 0.92))
    assert chapter.error_cell(joint, "booster_test_acc") == "9.00 ± 1.00 (acc 91.00 ± 1.00)"


def test_the_lambda_grid_is_sorted_by_hint_then_lambda_with_readable_numbers():
    grid = {"kd": {10.0: _record("g", 0, 0.7, val=0.70126), 0.1: _record("g", 0, 0.7, val=0.75)},
            "mimic": {0.3: _record("g", 0, 0.7, val=0.7), 0.003: _record("g", 0, 0.7, val=0.797599976),
                      0.03: _record("g", 0, 0.7, val=0.8)}}
    frame = chapter.lambda_table(_page_results(grid, {"mimic": 0.03, "kd": 0.1}))
    assert list(frame.columns) == ["hint", "λ", "val acc (%)", "chosen"]
    assert list(zip(frame["hint"], frame["λ"])) == [("mimic", "0.003"), ("mimic", "0.03"), ("mimic", "0.3"),
                                                   ("kd", "0.1"), ("kd", "10")]
    assert list(frame["val acc (%)"]) == ["79.76", "80.00", "70.00", "75.00", "70.13"]
    assert list(frame["chosen"]) == ["", "✓", "", "✓", ""]
    assert isinstance(frame.index, pd.RangeIndex)  # nothing for the page to hide but a counter


def test_table_one_puts_each_scheme_beside_the_papers_row():
    frame = chapter.table_one(_page_results())
    assert list(frame.columns) == ["scheme", "source", *chapter.TABLE_ONE_COLUMNS]
    assert list(zip(frame["scheme"], frame["source"])) == [
        ("(b) interval", "this book, Fashion-MNIST"), ("(b) interval", "paper (CIFAR-10)"),
        ("(a) bottom", "this book, Fashion-MNIST"), ("(a) bottom", "paper (CIFAR-10)")]
    ours_b, paper_b, ours_a = frame.iloc[0], frame.iloc[1], frame.iloc[2]
    assert ours_b["base"] == "19.00 ± 1.00 (acc 81.00 ± 1.00)"
    assert ours_b["rocket"] == "16.00 ± 1.00 (acc 84.00 ± 1.00)"
    assert ours_b["booster (inside rocket)"] == "10.00 ± 2.00 (acc 90.00 ± 2.00)"  # its own metric, not the light's
    assert ours_a["booster (inside rocket)"] == "13.00 ± 0.00 (acc 87.00 ± 0.00)"
    assert ours_a["rocket + KD"] == "–"  # run with interval sharing only
    assert ours_b["booster alone"] == "14.00 ± 0.00 (acc 86.00 ± 0.00)"
    assert paper_b["base"] == "8.77" and paper_b["rocket"] == "7.87"  # Table 1, WRN-16-1 / WRN-40-1, CIFAR-10


def test_paper_rows_mark_cells_the_paper_does_not_have():
    row = chapter.paper_row(1, "b", ["base", "no such column"])
    assert row == {"base": "8.77", "no such column": "–"}


def test_the_ablation_and_hint_tables_follow_the_papers_columns():
    results = _page_results()
    ablation = chapter.ablation_table(results)
    assert list(ablation.columns) == ["source", *chapter.ABLATION_ROWS]
    assert ablation.loc[0, "rocket"] == "16.00 ± 1.00 (acc 84.00 ± 1.00)"
    assert ablation.loc[0, "no sharing"] == "19.00 ± 1.00 (acc 81.00 ± 1.00)"
    assert ablation.loc[1, "source"] == "paper (CIFAR-10)" and re.fullmatch(r"\d+\.\d\d", ablation.loc[1, "base"])
    hints = chapter.hint_table(results)
    assert list(hints.columns) == ["source", "L_mimic", "L_MSE", "L_KD", "λ"]
    assert hints.loc[0, "L_mimic"] == "16.00 ± 1.00 (acc 84.00 ± 1.00)"
    assert hints.loc[0, "λ"] == "mimic 0.03, mse 3, kd 1"
    assert hints.loc[1, "λ"] == "not stated"


def test_the_cost_table_sums_the_runs_trained_one_after_the_other():
    results = _page_results()
    frame = chapter.cost_table(results).set_index("runs")
    # light alone 30 s, booster alone 60 s, KD 30 s; rocket (b) 90 s, rocket (a) 60 s per run
    assert frame.loc["booster, then light (sum)", "training time (s)"] == "90"
    assert frame.loc["booster, then KD into the light net (sum)", "training time (s)"] == "90"
    assert frame.loc["rocket (b), one joint run", "relative to booster, then light"] == "1.00"
    assert frame.loc["rocket (a), one joint run", "relative to booster, then light"] == "0.67"
    assert chapter.joint_ratios(results["table"]) == pytest.approx({"b": 1.0, "a": 2 / 3})
    results["table"]["booster alone"][0]["metrics"]["diverged"] = True  # a diverged run has no time and is left out
    assert chapter.training_costs(results["table"])["booster alone"] == pytest.approx(60.0)


def test_the_learning_curves_read_the_booster_from_its_own_metric():
    results = _page_results()
    frame = chapter.curve_frame(results)
    assert sorted(frame["run"].unique()) == sorted(label for label, _, _ in chapter.CURVES)
    booster_inside = frame[(frame["run"] == "booster inside rocket (b)") & (frame["epoch"] == 2)]
    assert booster_inside["test acc (%)"].mean() == pytest.approx(90.0)
    light_inside = frame[(frame["run"] == "light inside rocket (b)") & (frame["epoch"] == 1)]
    assert light_inside["test acc (%)"].mean() == pytest.approx(74.0)  # final 84 points, 10 lower an epoch before
    ax = chapter.learning_curves(results)
    assert [text.get_text() for text in ax.get_legend().get_texts()] == [label for label, _, _ in chapter.CURVES]
    assert ax.get_ylabel() == "test acc (%)"


def test_the_scheme_diagram_shares_what_each_scheme_shares():
    booster, light = chapter.scheme_roles("interval", booster_blocks=2, light_blocks=1)
    assert [(name, role) for _, name, role in booster] == [
        ("stem", "shared"), ("g1.1", "shared"), ("g1.2", "booster"), ("g2.1", "shared"), ("g2.2", "booster"),
        ("g3.1", "shared"), ("g3.2", "booster"), ("head", "booster")]
    assert [(column, name, role) for column, name, role in light][-1] == (7, "head", "light")
    assert [name for _, name, role in light if role == "shared"] == ["stem", "g1.1", "g2.1", "g3.1"]
    booster, light = chapter.scheme_roles("bottom", booster_blocks=2, light_blocks=1)
    assert [name for _, name, role in booster if role == "shared"] == ["stem", "g1.1", "g1.2"]
    assert [(column, name) for column, name, role in light if role == "light"] == [(3, "g2.1'"), (4, "g3.1'"),
                                                                                 (5, "head")]
    fig = chapter.sharing_figure("cpu")  # the cpu pair: WRN-10-1 in WRN-16-1, one and two blocks per group
    colours = [matplotlib.colors.to_hex(patch.get_facecolor()) for patch in fig.axes[0].patches]
    assert colours.count(chapter.SCHEME_COLOURS["shared"]) == 8 and colours.count(
        chapter.SCHEME_COLOURS["light"]) == 1 and colours.count(chapter.SCHEME_COLOURS["booster"]) == 4


def test_the_gradient_check_table_shows_a_zero_for_the_booster_under_gradient_block():
    pairs = {}
    for sharing in ("interval", "none"):
        torch.manual_seed(0)
        pairs[sharing] = RocketNet((1, 12, 12), 3, light_depth=10, booster_depth=16, width=1, sharing=sharing)
    torch.manual_seed(1)
    frame = chapter.gradient_block_table(pairs, torch.randn(8, 1, 12, 12), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1]))
    assert list(zip(frame["sharing"], frame["gradient block"])) == [("interval", "on"), ("interval", "off"),
                                                                   ("none", "on"), ("none", "off")]
    booster = frame["‖∇ hint‖ on booster params"]
    assert list(booster[frame["gradient block"] == "on"]) == ["0", "0"]
    assert all(float(value) > 0 for value in booster[frame["gradient block"] == "off"])
    assert list(frame.loc[frame["sharing"] == "none", "‖∇ hint‖ on shared params"]) == ["0", "0"]
    assert all(value == f"{float(value):.3g}" for value in frame["‖∇ hint‖ on light params"])  # 3 digits


def test_the_inference_table_counts_only_the_path_the_bottom_light_net_runs():
    frame = chapter.inference_table("cpu", (1, 12, 12), 3, repeats=1)
    assert list(frame.columns) == ["network", "parameters", "weights on disk (KiB)", "latency, batch 1 (ms)",
                                   "latency, batch 256 (ms)"]
    bottom = frame.iloc[2]
    assert bottom["network"].startswith("light net of (a)") and bottom["weights on disk (KiB)"] == "–"
    from kdlib.models import build_model

    expected = build_model("rocket_10_16_1_bottom", (1, 12, 12), 3).light_parameter_count()
    assert bottom["parameters"] == f"{expected:,}"
    light = sum(p.numel() for p in build_model("wrn_10_1", (1, 12, 12), 3).parameters())
    assert frame.iloc[0]["parameters"] == f"{light:,}" and "," in frame.iloc[0]["parameters"]
    assert re.fullmatch(r"\d+\.\d{3}", frame.iloc[0]["latency, batch 1 (ms)"])


def test_the_setup_table_names_each_setting_in_its_first_column():
    specs = chapter.table_runs("cpu", {"mimic": 0.03, "mse": 3.0, "kd": 1.0})
    results = {"table": {row: [{"spec": specs[row][0].to_dict()}] for row in specs}}
    frame = chapter.setup_table(results).set_index("setting")
    assert list(frame.columns) == ["light net alone", "booster alone", "rocket (b), chosen λ",
                                   "no joint training (b)"]
    assert frame.loc["model", "booster alone"] == "wrn_16_1"
    assert frame.loc["lr", "light net alone"] == "0.1" and frame.loc["weight decay", "booster alone"] == "0.0005"
    assert frame.loc["epochs", "light net alone"] == 6 and frame.loc["training images", "rocket (b), chosen λ"] == 5000
    assert RunSpec.from_dict(results["table"]["rocket (b)"][0]["spec"]).model == frame.loc["model",
                                                                                           "rocket (b), chosen λ"]


def _arm(student, teacher, book, code=None):
    """One arm of the control study: validation accuracies (fractions) per seed of each row."""
    rows = {"student alone": student, "teacher alone": teacher, "KD, book's term": book, "KD, code's term": code}
    models = {"teacher alone": "wrn_16_1"}
    return {row: [_record(row, seed, 0.5, val=value, model=models.get(row, "wrn_10_1"),
                          method="ce" if row in ("student alone", "teacher alone") else "kd")
                  for seed, value in enumerate(values)] for row, values in rows.items() if values is not None}


def test_the_control_study_names_the_arms_where_each_row_passes():
    controls = {"the chapter's setting": _arm((0.80, 0.81, 0.82), (0.86, 0.87, 0.86), (0.78, 0.80, 0.79),
                                              (0.82, 0.84, 0.84)),  # KD, code's term: +2, +3, +2 points
                "24 epochs": _arm((0.80, 0.81, 0.82), (0.86, 0.87, 0.86), (0.84, 0.86, 0.87), (0.80, 0.81, 0.82))}
    results = {"controls": controls}
    assert chapter.control_numbers(results) == {"controls_teacher": "the chapter's setting, 24 epochs",
                                                "controls_book": "24 epochs", "controls_code": "the chapter's setting"}
    frame = chapter.control_table(results)
    assert frame.columns[0] == "arm" and list(frame["arm"]) == ["the chapter's setting", "24 epochs"]
    assert "booster alone − light net alone" in frame.columns and "light net alone (%)" in frame.columns
    assert frame.loc[0, "light net alone (%)"] == "81.00 ± 1.00"
    assert frame.loc[1, "KD, book's term − light net alone"].endswith("✓")


def test_the_claim_numbers_read_the_ledger():
    numbers = chapter.claim_numbers(chapter.claims(_results()))
    assert numbers["verdicts"] == "C6 supported; C7 supported; C8 supported; C9 supported"
    assert numbers["precondition_note"].startswith("Both preconditions of C6–C8 held at this scale: the booster")
    assert numbers["rocket_vs_base"].startswith("+3.0")
    low, high = map(float, numbers["mde_range"].split(" to "))
    assert 0 < low <= high
    assert numbers["c9_reading"].startswith("supported: ")
    untestable = chapter.claim_numbers(chapter.claims(_results({"KD from the booster": 77.0})))
    assert untestable["precondition_note"].startswith(
        "C6, C7 and C8 are untestable here: the precondition 'KD from the separately trained booster beats the "
        "light net alone' failed")


def test_page_numbers_give_every_name_the_prose_glues():
    results = _page_results()
    results["controls"] = {"the chapter's setting": _arm((0.80, 0.81, 0.82), (0.86, 0.87, 0.86),
                                                         (0.78, 0.80, 0.79))}
    numbers = chapter.page_numbers(results, chapter.claims(_results()))
    assert numbers["joint_ratio_b"] == pytest.approx(1.0) and numbers["joint_ratio_a"] == pytest.approx(2 / 3)
    assert numbers["controls_code"] == "no arm"
    from pathlib import Path

    page = (Path(__file__).parent.parent / "notebooks" / "02_rocket_launching.py").read_text()
    quoted = set(re.findall(r"\{glue:text\}`(\w+)", page))
    preamble = {"profile", "seeds", "epochs", "dataset_name", "light_name", "booster_name", "subset", "n_runs",
                "total_minutes", "elapsed_minutes"}  # the page's first and last cells glue these
    testbed = set(chapter.testbed_numbers([]))  # the R-1 section's cell glues these
    assert quoted - preamble - testbed == set(numbers) and not set(numbers) & testbed
    assert {name for name in quoted if name.startswith("r1_")} <= testbed
    assert all(not isinstance(value, float) or math.isfinite(value) for value in numbers.values())

