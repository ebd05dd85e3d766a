"""The introduction's MNIST rows beside Hinton et al.'s (§3): our mean ± std, ours − paper with its 95 % interval,
and whether the paper's count lies inside our interval, from synthetic records."""

import numpy as np
import pytest
from scipy import stats as scipy_stats

from kdlib.chapters import introduction

PAPER = {"teacher": 67, "student": 146, "distilled": 74}  # kdlib/reference/hinton2015.csv


def _records(errors, model="mlp_2x800"):
    """Runs with the given test errors per 10,000 images, one per seed."""
    return [{"id": f"{model}-{seed}", "spec": {"seed": seed, "dataset": "mnist", "model": model, "subset": None,
                                              "val_size": 5000, "batch_size": 128},
             "metrics": {"test_acc": 1 - count / 10_000, "val_acc": 0.98}} for seed, count in enumerate(errors)]


def _mnist(teacher=(66, 68, 67.5), student=(150, 152, 151), distilled=(74,)):
    return {"teacher": _records(teacher, "mlp_2x1200_dropout"), "student": _records(student),
            "distilled": _records(distilled)}


def test_the_paper_column_is_read_from_the_reference_table():
    table = introduction.paper_table(_mnist())
    assert table["paper: test errors (of 10,000)"].to_dict() == PAPER
    assert list(table.index) == ["teacher", "student", "distilled"]


def test_ours_minus_paper_with_its_interval_matches_an_independent_computation():
    """Our seeds' variance of the mean plus the paper count's binomial variance (146 of 10,000), with
    Welch–Satterthwaite degrees of freedom for a reference of infinite degrees of freedom."""
    student = np.array([150.0, 152.0, 151.0])
    comparison = introduction.paper_comparisons(_mnist(student=tuple(student)))["student"]
    assert comparison.test == "one-sample" and comparison.n == (3, 0)
    assert comparison.effect == pytest.approx(student.mean() - PAPER["student"], abs=1e-6)
    ours = student.var(ddof=1) / 3
    paper = 10_000 * 0.0146 * (1 - 0.0146)  # the count's binomial variance
    df = (ours + paper) ** 2 / (ours ** 2 / 2)
    half = scipy_stats.t.ppf(0.975, df) * np.sqrt(ours + paper)
    assert comparison.df == pytest.approx(df)
    assert comparison.ci == pytest.approx((student.mean() - PAPER["student"] - half,
                                           student.mean() - PAPER["student"] + half), abs=1e-6)
    assert half > 1.9 * np.sqrt(paper)  # the paper's own ±12 errors dominate three close seeds


def test_the_table_says_whether_the_papers_count_lies_inside_our_interval():
    table = introduction.paper_table(_mnist(teacher=(66, 68, 67.5), student=(190, 192, 191), distilled=(80,)))
    inside = table["paper's count inside our 95 % interval"]
    assert inside["teacher"] == "yes"  # 67 ± its binomial error, against 67.2
    assert inside["student"] == "no"  # 146 lies far below 191, even with its ±12
    assert inside["distilled"].startswith("–")  # one seed: no interval, so no answer
    assert introduction.paper_inside(introduction.paper_comparisons(_mnist())) == ["teacher", "student"]
    assert table.loc["student", "this book, MNIST: test errors per 10,000 (mean ± std)"] == "191 ± 1"
    assert table.loc["student", "ours − paper [95 % CI]"].startswith("+45 [")
    assert table.loc["distilled", "ours − paper [95 % CI]"] == "+6 (no spread)"
    assert table["seeds"].to_dict() == {"teacher": 3, "student": 3, "distilled": 1}
    assert not any("reproduced" in str(value) for value in table.to_numpy().ravel())  # no verdict words


def test_errors_are_counted_per_ten_thousand_images():
    assert introduction.error_counts(_records([74, 80])) == pytest.approx([74, 80])
