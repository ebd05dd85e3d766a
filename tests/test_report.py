"""Report helpers: the formatting and verdicts that every table in the book relies on."""

import pytest

from kdlib import report


def test_mean_std_uses_the_sample_standard_deviation():
    assert report.mean_std([0.9, 0.92, 0.94]) == "92.00 ± 2.00"
    assert report.mean_std([0.9871]) == "98.71"


def test_verdict_allows_tolerance_plus_two_standard_deviations():
    assert report.verdict(1.5, 0.1, 1.2, tolerance=0.1) == "reproduced"       # gap 0.3 <= 0.1 + 0.2
    assert report.verdict(1.5, 0.05, 1.2, tolerance=0.1) == "not reproduced"  # gap 0.3 > 0.1 + 0.1


def test_collapsed_runs_are_counted():
    def record(acc):
        return {"history": [{"train_acc": 0.5}, {"train_acc": acc}]}
    assert report.collapsed([record(0.1), record(0.99), record(0.12)], n_classes=10) == 2


def test_the_shipped_reference_numbers_name_their_source():
    table = report.reference_table("hinton2015").set_index("model")
    assert table.loc[["teacher", "student", "distilled"], "test_errors"].tolist() == [67, 146, 74]
    assert table["source"].str.contains("Hinton, Vinyals & Dean 2015").all()
    with pytest.raises(FileNotFoundError):
        report.reference_table("no_such_paper")


def test_mean_std_leaves_diverged_runs_out_and_says_so():
    assert report.mean_std([0.9, None, 0.94]) == "92.00 ± 2.83 (1 diverged)"
    assert report.mean_std([None, None]) == "diverged"


def test_difference_needs_more_than_two_standard_errors():
    # Δ = 1.0, standard errors sqrt(0.01/3 + 0.01/3) ≈ 0.082, band ≈ 0.163: clearly higher
    clear = report.difference([2.0, 2.1, 1.9], [1.0, 1.1, 0.9])
    assert clear["outcome"] == "higher" and clear["delta"] == pytest.approx(1.0)
    assert clear["band"] == pytest.approx(2 * (0.01 / 3 + 0.01 / 3) ** 0.5)
    assert report.difference([1.0, 1.1, 0.9], [2.0, 2.1, 1.9])["outcome"] == "lower"
    assert report.difference([1.05, 1.5, 0.6], [1.0, 1.1, 0.9])["outcome"] == "within noise"
    assert report.difference([1.0, float("nan"), 1.1, 0.9], [2.0, 2.1, 1.9])["outcome"] == "lower"


def test_heatmap_labels_cells_that_have_no_value():
    import matplotlib
    matplotlib.use("Agg")
    import pandas as pd
    table = pd.DataFrame([[0.5, float("nan")], [-0.2, 0.1]], index=[0.2, 1.0], columns=[0.1, 1.6])
    labels = pd.DataFrame([["a", "diverged"], ["c", "d"]], index=table.index, columns=table.columns)
    ax = report.heatmap(table, "Δ", annotation=labels)
    assert sorted(text.get_text() for text in ax.texts) == ["a", "c", "d", "diverged"]
