"""The teacher-free page's tables, figures and glued numbers (kdlib.chapters.teacher_free), on hand-made records."""

import math
import re
from pathlib import Path

import numpy as np
import pytest

from kdlib.book import SPENT_GLUES

from kdlib import claims as kc
from test_teacher_free import LEVEL, _synthetic_record, _tf_results

ROOT = Path(__file__).resolve().parent.parent
# validation accuracy (%) of some grid cells (the rest: 88 %); each grid's best is its first cell, the one the rows
# of ``_tf_results`` were built at (``_chosen_at(0)``)
VAL = {"KD (MLP)": {(0.9, 20.0): 88.4, (0.1, 1.0): 88.9, (0.5, 4.0): 88.2, (0.1, 4.0): 88.1},
       "Tf-KD_self (MLP)": {(0.1, 1.0): 88.5}, "Tf-KD_reg (MLP)": {(0.1, 1.0): 89.3},
       "LSR (MLP)": {(0.05,): 88.6, (0.3,): 88.3}, "KD (LeNet-5)": {(0.1, 1.0): 90.2},
       "Tf-KD_self (LeNet-5)": {(0.1, 1.0): 90.1}, "Tf-KD_reg (LeNet-5)": {(0.1, 1.0): 90.3},
       "LSR (LeNet-5)": {(0.05,): 89.9}, "KD (small CNN)": {(0.1, 1.0): 91.2}}


def _gain(text):
    """The point estimate of a comparison's text, "+0.99 [+0.85, +1.13]" → 0.99."""
    return float(text.split(" ")[0])


def _mean_std(values):
    return f"{np.mean(values):.2f} ± {np.std(values, ddof=1):.2f}"


@pytest.fixture
def results():
    """``_tf_results`` with the stage-1 grids (seed 0 of each grid's student; every cell at 88 % on validation unless
    ``VAL`` says otherwise, stored in reverse grid order), the choice (the best cell of each grid, its first) and a
    control study."""
    from kdlib.chapters import teacher_free

    out = _tf_results()
    grids = {family: {key: _synthetic_record(spec, 87.0, VAL.get(family, {}).get(key, 88.0))
                      for key, spec in reversed(list(specs.items()))}
             for family, specs in teacher_free.grids("cpu").items()}
    out["grids"] = grids
    out["chosen"] = {family: teacher_free.grids("cpu")[family][max(cells, key=lambda k: cells[k]["metrics"]["val_acc"])]
                     for family, cells in grids.items()}
    level = {"student alone": 88.0, "teacher alone": 90.0, "KD, book's term": 89.0, "KD, code's term": 88.0}
    jitter = {"student alone": (-0.05, 0.0, 0.05), "teacher alone": (0.05, -0.05, 0.0),
              "KD, book's term": (0.0, 0.05, -0.05), "KD, code's term": (0.05, 0.0, -0.05)}
    out["controls"] = {arm: {row: [_synthetic_record(spec, level[row] + j, level[row] + j)
                                   for j, spec in zip(jitter[row], specs)] for row, specs in rows.items()}
                       for arm, rows in teacher_free.control_runs("cpu", out["chosen"]).items()}
    for _, records in out["rows"]:
        for record in records:
            record["metrics"]["test_acc_max_over_epochs"] = record["metrics"]["test_acc"] + 0.004
    return out


def test_the_grids_are_sorted_by_their_numeric_keys_and_read_in_points(results):
    from kdlib.chapters import teacher_free

    tables = teacher_free.grid_tables(results)
    assert list(tables) == list(teacher_free.grids("cpu"))
    kd = tables["KD (MLP)"]
    assert list(kd.index) == [0.1, 0.5, 0.9] and list(kd.columns) == [1.0, 4.0, 20.0]  # stored in reverse order
    assert (kd.index.name, kd.columns.name) == ("α", "τ")
    assert kd.loc[0.1, 1.0] == pytest.approx(88.9) and kd.loc[0.9, 20.0] == pytest.approx(88.4)
    assert kd.loc[0.1, 4.0] == pytest.approx(88.1) and kd.loc[0.5, 20.0] == pytest.approx(88.0)
    assert tables["KD (LeNet-5)"].loc[0.1, 1.0] == pytest.approx(90.2)
    lsr = tables["LSR (MLP)"]
    assert lsr.index.name == "ε" and list(lsr.index) == [0.05, 0.1, 0.2, 0.3]
    assert lsr.loc[0.3, "val acc"] == pytest.approx(88.3)


def test_the_chosen_table_names_each_familys_setting_and_its_validation_accuracy(results):
    from kdlib.chapters import teacher_free

    table = teacher_free.chosen_table(results)
    assert list(table["student"]) == ["MLP"] * 4 + ["LeNet-5"] * 4 + ["small CNN"]
    assert list(table["method"]) == ["KD", "Tf-KD_self", "Tf-KD_reg", "LSR"] * 2 + ["KD"]
    by_grid = table.set_index(["student", "method"])
    assert by_grid.loc[("MLP", "KD"), "chosen"] == "alpha=0.1, temperature=1"
    assert by_grid.loc[("MLP", "KD"), "val acc (%)"] == "88.90"
    assert by_grid.loc[("LeNet-5", "KD"), "val acc (%)"] == "90.20"
    assert by_grid.loc[("MLP", "LSR"), "chosen"] == "epsilon=0.05"
    assert by_grid.loc[("MLP", "LSR"), "val acc (%)"] == "88.60"
    assert by_grid.loc[("LeNet-5", "LSR"), "val acc (%)"] == "89.90"
    assert by_grid.loc[("MLP", "Tf-KD_self"), "val acc (%)"] == "88.50"
    assert by_grid.loc[("small CNN", "KD"), "val acc (%)"] == "91.20"


def test_the_re_kd_table_has_one_line_per_pair_with_means_in_points_and_paired_gains(results):
    from kdlib.chapters import teacher_free

    table = teacher_free.re_kd_table(results)
    assert len(table) == 3 and list(table.index) == [0, 1, 2]
    first = table.iloc[0]  # LeNet-5 teaches the MLP; the MLP teaches LeNet-5 back
    base_strong = teacher_free.records_of(results, "baseline", "lenet5")
    reverse = teacher_free.records_of(results, "Re-KD", "lenet5", "mlp_2x100")
    assert first["teacher: baseline"] == "lenet5: " + _mean_std([100 * r["metrics"]["test_acc"] for r in base_strong])
    assert float(first["teacher: baseline"].split(" ")[1]) == pytest.approx(LEVEL["lenet5"], abs=0.1)
    assert first["student: baseline"].startswith("mlp_2x100: ")
    assert first["Re-KD (S → T)"] == _mean_std([100 * r["metrics"]["test_acc"] for r in reverse])
    assert first["Δ Re-KD [95 % CI]"] == kc.compare("Re-KD", reverse, base_strong).text()
    assert _gain(first["Δ Re-KD [95 % CI]"]) == pytest.approx(1.0, abs=0.1)  # Re-KD gains one point here
    assert [row.split(":")[0] for row in table["teacher: baseline"]] == ["lenet5", "small_cnn", "small_cnn"]


def test_the_de_kd_tables_name_each_teachers_role_and_accuracy(results):
    from kdlib.chapters import teacher_free

    poor = teacher_free.de_kd_table(results, "De-KD")
    assert list(poor["teacher"]) == ["small_cnn after 30 steps"] * 2
    assert list(poor["teacher val / test acc (%)"]) == ["75.00 / 75.00"] * 2
    assert list(poor["role in C11"]) == ["poorly trained: in C11"] * 2
    assert [cell.split(":")[0] for cell in poor["student: baseline"]] == ["mlp_2x100", "lenet5"]
    curve = teacher_free.de_kd_table(results, "De-KD curve")
    assert list(curve["teacher"]) == [f"lenet5 after {step} steps" for step in (10, 30, 100, 300, 1000)]
    assert list(curve["role in C11"]) == [
        "chance level: label smoothing, not in C11", "chance level: label smoothing, not in C11",
        "poorly trained: in C11", "poorly trained: in C11", "too close to the student: not in C11"]
    assert curve["teacher val / test acc (%)"].iloc[2] == "48.00 / 48.00"


def test_the_de_kd_curve_runs_from_the_first_checkpoint_to_the_finished_teacher(results):
    from kdlib.chapters import teacher_free

    curve = teacher_free.de_kd_curve(results)
    assert len(curve) == 5 * 3 + 3
    assert list(dict.fromkeys(curve["step"])) == ["10", "30", "100", "300", "1000", "full run"]
    full = curve[curve["step"] == "full run"]
    assert full["teacher test acc (%)"].tolist() == pytest.approx([LEVEL["lenet5"]] * 3)
    assert full["student test acc (%)"].mean() == pytest.approx(LEVEL["mlp_2x100"] + 2.0, abs=0.1)  # normal KD: +2
    assert curve[curve["step"] == "100"]["teacher test acc (%)"].tolist() == pytest.approx([48.0] * 3)
    ax = teacher_free.de_kd_curve_figure(results)
    assert ax.get_title() == "mlp_2x100 taught by checkpoints of lenet5"
    assert sorted(text.get_text() for text in ax.texts) == sorted(["10", "30", "100", "300", "1000", "full run"])


def test_the_teacher_free_table_lists_every_way_of_training_each_student(results):
    from kdlib.chapters import teacher_free

    table = teacher_free.teacher_free_table(results)
    weak = table[table["model"] == "mlp_2x100"]
    assert list(weak["row"]) == ["baseline", "Tf-KD_self", "Tf-KD_reg", "LSR", "normal KD [lenet5]",
                                 "normal KD [small_cnn]", "Tf-KD_reg, released code", "LSR, released code"]
    assert list(table[table["model"] == "lenet5"]["row"]) == ["baseline", "Tf-KD_self", "Tf-KD_reg", "LSR",
                                                               "normal KD [small_cnn]"]
    base = weak.iloc[0]
    records = teacher_free.records_of(results, "baseline", "mlp_2x100")
    assert base["Δ vs baseline [95 % CI]"] == "–"
    assert base["test acc (%)"] == _mean_std([100 * r["metrics"]["test_acc"] for r in records])
    assert base["best test epoch (%)"] == _mean_std([100 * r["metrics"]["test_acc"] + 0.4 for r in records])
    assert base["setting"] == "–" and base["runs"] == " ".join(r["id"] for r in records)
    assert all(len(run) == len(records[0]["id"]) for run in base["runs"].split())  # ids in full
    reg = weak.iloc[2]
    assert reg["setting"] == "a=0.99, alpha=0.1, temperature=1"  # the chosen cell
    assert _gain(reg["Δ vs baseline [95 % CI]"]) == pytest.approx(2.0, abs=0.1)
    assert not re.search(r"\d\.\d{3,}", " ".join(table["test acc (%)"]))  # two decimals, never more


def test_the_papers_tables_are_as_printed_with_computed_gains():
    from kdlib.chapters import teacher_free

    t1 = teacher_free.paper_re_kd_table()
    assert t1.iloc[0].to_dict() == {"teacher: baseline": "ResNet18: 75.87", "student: baseline": "MobileNetV2: 68.38",
                                    "normal KD": "71.05 ± 0.16 (+2.67)", "Re-KD": "77.28 ± 0.28 (+1.41)"}
    t4 = teacher_free.paper_de_kd_table()
    assert all(re.fullmatch(r"\d+\.\d\d ± \d+\.\d\d \([+-]\d+\.\d\d\)", cell) for cell in t4["De-KD"])
    t59 = teacher_free.paper_teacher_free_table()
    assert list(t59.columns[:3]) == ["table", "model", "baseline"]
    assert set(t59["table"]) == {"Table 5", "Table 9"} and not t59.isna().any().any()
    assert any(cell.endswith("]") for cell in t59["normal KD [teacher]"] if cell != "–")


def test_the_virtual_teacher_curves_start_at_a_and_flatten_towards_uniform():
    from kdlib.chapters import teacher_free

    curves = teacher_free.virtual_teacher_curves(taus=(1.0, 20.0, 1e6))
    assert len(curves) == 2 * 2 * 3 * 2
    at = curves.set_index(["K", "τ", "version"])["p(true class)"]
    assert at[(10, 1.0, "Eq. 9 (kdlib), a = 0.99")] == pytest.approx(0.99)
    assert at[(10, 20.0, "Eq. 9 (kdlib), a = 0.99")] == pytest.approx(0.13497, abs=1e-4)
    released = math.exp(0.99 / 20) / (math.exp(0.99 / 20) + 9 * math.exp(0.01 / 9 / 20))
    assert at[(10, 20.0, "released code, a = 0.99")] == pytest.approx(released)
    assert at[(100, 1e6, "Eq. 9 (kdlib), a = 0.9")] == pytest.approx(0.01, abs=1e-4)


def test_the_control_study_on_test_names_the_models_and_says_which_control_holds(results):
    from kdlib.chapters import teacher_free

    table = teacher_free.controls_on_test(results)
    assert list(table["control (test accuracy)"]) == [
        "normal KD from the trained LeNet-5, kdlib's term, beats MLP alone",
        "normal KD from the trained LeNet-5, the released code's term (kdlib's ÷ K), beats MLP alone"]
    assert list(table["holds"]) == ["yes", "no"]  # book's term one point above the student, code's term level


def test_the_control_study_shows_each_arm_by_name_and_marks_the_controls_that_hold(results):
    from kdlib.chapters import teacher_free

    table = teacher_free.control_table(results)
    assert table.columns[0] == "arm"
    assert list(table["arm"]) == ["the chapter's setting", "32 epochs", "lr 0.02", "lr 0.1"]
    first = table.iloc[0]
    assert first["student alone (%)"] == "88.00 ± 0.05"
    assert first["KD, book's term − student alone"].endswith(" ✓")  # one point above, on validation
    assert _gain(first["KD, book's term − student alone"]) == pytest.approx(1.0, abs=0.01)
    assert not first["KD, code's term − student alone"].endswith("✓")


def test_the_page_numbers_are_the_ledgers_verdicts_and_the_records_gains(results):
    from kdlib.chapters import teacher_free

    ledger = teacher_free.claims(results)
    numbers = teacher_free.page_numbers(results, ledger)
    assert numbers["verdict_c10"] == ledger[0].verdict == "supported"
    assert numbers["verdict_c12"] == "supported" and numbers["verdict_c13_reg_kd"] == "equivalent"
    assert (numbers["weak_model"], numbers["middle_model"], numbers["strong_model"]) == ("mlp_2x100", "lenet5",
                                                                                         "small_cnn")
    assert numbers["poor_step"] == 30 and numbers["full_steps"] == 3440
    assert numbers["kd_controls_holding"] == "3 of the 3" and numbers["n_classes"] == 10
    assert numbers["reg_setting"] == "MLP a=0.99, alpha=0.1, temperature=1; LeNet-5 a=0.99, alpha=0.1, temperature=1"
    assert numbers["kd_setting"] == ("MLP alpha=0.1, temperature=1; LeNet-5 alpha=0.1, temperature=1; "
                                     "small CNN alpha=0.1, temperature=1")
    assert numbers["reg_tau_note"] == "below the paper's advice of τ ≥ 20"
    mixed = {**results, "chosen": {**results["chosen"], "Tf-KD_reg (LeNet-5)":
                                   teacher_free.grids("cpu")["Tf-KD_reg (LeNet-5)"][(0.9, 20.0)]}}
    assert teacher_free.page_numbers(mixed, ledger)["reg_tau_note"] == \
        "τ ≥ 20, as the paper advises, for only one of the two"
    assert numbers["controls_teacher"] == numbers["controls_book"] != "no arm"
    assert numbers["controls_code"] == "no arm"
    assert numbers["c11_excluded"].count("chance level: label smoothing, not in C11") == 2
    assert "too close to the student: not in C11" in numbers["c11_excluded"]
    base = teacher_free.records_of(results, "baseline", "mlp_2x100")
    assert numbers["weak_kd_delta"] == kc.compare(
        "normal KD", teacher_free.records_of(results, "normal KD", "mlp_2x100", "small_cnn"), base).text()
    assert numbers["kdlib_true_20"] == pytest.approx(0.13497, abs=1e-4)
    assert numbers["released_true_20"] < 0.105
    assert re.fullmatch(r"\d+\.\d\d to \d+\.\d\d", numbers["mde_range"])


def test_every_number_the_page_quotes_is_glued():
    """Each {glue:text}`name` of the notebook's prose comes from page_numbers or a glue(...) the notebook keeps."""
    source = (ROOT / "notebooks" / "03_teacher_free.py").read_text()
    quoted = set(re.findall(r"\{glue:text\}`(\w+)", source))
    from kdlib.chapters import teacher_free
    glued_in_notebook = set(re.findall(r'glue\("(\w+)"', source)) | set(SPENT_GLUES)  # Page.compute_spent's
    glued_in_notebook |= set(teacher_free.testbed_numbers([]))  # the TF-1 paragraph's, glued in a loop
    from_numbers = {"weak_model", "middle_model", "strong_model", "released_true_20", "kdlib_true_20",
                    "kdlib_other_20", "poor_step", "full_steps", "trained_factor", "poor_ratio", "controls_teacher",
                    "controls_book", "controls_code", "match_margin", "c11_excluded", "kd_controls_holding",
                    "mde_range", "reg_setting", "kd_setting", "self_setting", "n_classes", "reg_tau_note",
                    "released_reg_delta", "weak_self_delta", "weak_reg_delta", "weak_lsr_delta", "weak_kd_delta",
                    *(f"verdict_{key}" for key in ("c10", "c11", "c12", "c13_self", "c13_self_kd", "c13_reg_kd",
                                                   "c13_reg_lsr"))}
    assert quoted <= glued_in_notebook | from_numbers, quoted - glued_in_notebook - from_numbers
    assert not glued_in_notebook & from_numbers


def test_the_page_numbers_cover_exactly_the_names_the_notebook_does_not_glue_itself(results):
    from kdlib.chapters import teacher_free

    numbers = teacher_free.page_numbers(results, teacher_free.claims(results))
    source = (ROOT / "notebooks" / "03_teacher_free.py").read_text()
    quoted = set(re.findall(r"\{glue:text\}`(\w+)", source))
    glued_in_notebook = set(re.findall(r'glue\("(\w+)"', source)) | set(SPENT_GLUES)
    glued_in_notebook |= set(teacher_free.testbed_numbers([]))
    assert set(numbers) == quoted - glued_in_notebook


def test_the_setup_lists_each_model_then_each_chosen_setting(results):
    from kdlib.chapters import teacher_free

    specs = teacher_free.setup_specs(results)
    assert list(specs) == ["mlp_2x100 (teacher and baseline)", "lenet5 (teacher and baseline)",
                           "small_cnn (teacher and baseline)",
                           *(f"{name}, chosen" for name in teacher_free.grids("cpu"))]
    assert specs["LSR (MLP), chosen"].method_params == (("epsilon", 0.05),)
    assert specs["KD (small CNN), chosen"].model == "small_cnn"
    assert list(teacher_free.curve_groups(results)) == ["baseline", "Tf-KD_self", "Tf-KD_reg", "LSR",
                                                        "normal KD [lenet5]"]


def test_the_carried_over_table_sets_each_changed_row_then_beside_now_against_its_student_alone(results):
    """With the MLP's KD setting moved to another cell, every LeNet-5 and small-CNN row taught at KD's setting is
    a changed row; its 'then' records (at the MLP's setting) and 'now' records (its own) are each compared with the
    same student alone, paired by seed, as scipy computes it."""
    from scipy import stats as scipy_stats

    from kdlib.chapters import teacher_free

    chosen = {**results["chosen"], "KD (MLP)": teacher_free.grids("cpu")["KD (MLP)"][(0.5, 20.0)]}
    then_rows = teacher_free.carried_over_rows("cpu", chosen)
    assert [(row.method, row.model, row.teacher) for row in then_rows] == [  # in the order of the chapter's rows
        ("Re-KD", "lenet5", "mlp_2x100"), ("Re-KD", "small_cnn", "mlp_2x100"), ("normal KD", "lenet5", "small_cnn"),
        ("Re-KD", "small_cnn", "lenet5"), ("De-KD", "lenet5", "small_cnn after 30 steps")]
    lost = (-1.4, -1.5, -1.7)
    results["carried_over"] = [(row, [_synthetic_record(spec, LEVEL[row.model] + d)
                                      for spec, d in zip(row.specs, lost)]) for row in then_rows]
    table = teacher_free.carried_over_table(results).set_index("row")
    assert list(table.index) == ["Re-KD [MLP] (LeNet-5)", "Re-KD [MLP] (small CNN)",
                                 "normal KD [small CNN] (LeNet-5)", "Re-KD [LeNet-5] (small CNN)", "De-KD (LeNet-5)"]
    assert set(table["setting then"]) == {"alpha=0.5, temperature=20"}
    assert set(table["setting now"]) == {"alpha=0.1, temperature=1"}
    base = teacher_free.records_of(results, "baseline", "lenet5")
    alone = np.array([100 * r["metrics"]["test_acc"] for r in base])
    diff = LEVEL["lenet5"] + np.array(lost) - alone
    low, high = scipy_stats.t.interval(0.95, 2, loc=diff.mean(), scale=scipy_stats.sem(diff))
    assert table.loc["Re-KD [MLP] (LeNet-5)", "Δ then [95 % CI]"] == f"{diff.mean():+.2f} [{low:+.2f}, {high:+.2f}]"
    assert _gain(table.loc["Re-KD [MLP] (LeNet-5)", "Δ now [95 % CI]"]) == pytest.approx(1.0, abs=0.15)  # gain 1
