"""Report helpers: the formatting every table in the book relies on (verdicts: test_claims.py)."""

import pytest

from kdlib import report


def test_mean_std_uses_the_sample_standard_deviation():
    assert report.mean_std([0.9, 0.92, 0.94]) == "92.00 ± 2.00"
    assert report.mean_std([0.9871]) == "98.71"


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


def test_heatmap_labels_cells_that_have_no_value():
    import matplotlib
    matplotlib.use("Agg")
    import pandas as pd
    table = pd.DataFrame([[0.5, float("nan")], [-0.2, 0.1]], index=[0.2, 1.0], columns=[0.1, 1.6])
    labels = pd.DataFrame([["a", "diverged"], ["c", "d"]], index=table.index, columns=table.columns)
    ax = report.heatmap(table, "Δ", annotation=labels)
    assert sorted(text.get_text() for text in ax.texts) == ["a", "c", "d", "diverged"]


def test_records_table_has_one_row_per_record_and_marks_divergence():
    def record(run_id, seed, acc, diverged=False):
        spec = {"dataset": "mnist", "model": "mlp_2x100", "method": "noisy_teacher", "seed": seed, "epochs": 2,
                "lr": 0.01, "method_params": {"sigma": 0.2, "alpha": 0.5}, "teacher": {"model": "lenet5", "seed": 0},
                "extra_teachers": [{"model": "lenet5", "seed": 1}]}
        metrics = {"diverged": True, "test_acc": None, "val_acc": None} if diverged else \
            {"test_acc": acc, "val_acc": acc}
        provenance = {"wall_time_s": 90.0, "device": "cpu", "threads": 1, "git_commit": "abcdef0123456789",
                      "date": "2026-11-30T06:00:00+00:00"}
        return {"id": run_id, "spec": spec, "metrics": metrics, "provenance": provenance}

    table = report.records_table([record("b", 1, 0.9), record("a", 0, 0.8), record("c", 2, None, diverged=True)])
    assert table["id"].tolist() == ["a", "b", "c"]
    assert table["params"].iloc[0] == "alpha=0.5, sigma=0.2"
    assert table["teacher"].iloc[0] == "lenet5/seed 0 lenet5/seed 1"
    assert table["diverged"].tolist() == [False, False, True] and table["minutes"].iloc[0] == 1.5


def test_the_teacher_free_reference_tables_are_as_printed():
    table = report.reference_table("yuan2020")
    assert table["source"].str.startswith("Yuan et al. 2020 (CVPR), Table").all()
    re_kd = table[(table["table"] == 1) & (table["method"] == "Re-KD")]
    assert len(re_kd) == 8 and re_kd.iloc[0][["model", "teacher", "accuracy", "std", "baseline"]].tolist() == [
        "ResNet18", "MobileNetV2", 77.28, 0.28, 75.87]
    assert sorted(table["table"].unique()) == [1, 4, 5, 9]


def test_the_rocket_reference_tables_are_as_printed():
    table = report.reference_table("zhou2018")
    assert table["source"].str.contains("Zhou et al. 2018").all()
    row = table[(table["table"] == 2) & (table["sharing"] == "b")].set_index("column")["error"]
    assert row[["base", "no gradient block", "no sharing", "no joint training", "rocket"]].tolist() == [
        8.77, 8.50, 8.06, 8.04, 7.87]


def test_elapsed_minutes_spans_the_first_start_to_the_last_end():
    def record(end, seconds):
        return {"provenance": {"date": end, "wall_time_s": seconds}}

    runs = [record("2026-01-01T10:00:00+00:00", 600), record("2026-01-01T10:30:00+00:00", 60)]
    assert report.elapsed_minutes(runs) == 40.0  # 09:50 to 10:30
    assert report.elapsed_minutes([]) == 0.0


def test_compute_spent_counts_a_run_listed_twice_once():
    record = {"id": "a1", "spec": {"model": "m", "method": "ce", "dataset": "mnist", "epochs": 1, "schedule": "cosine"},
              "provenance": {"device": "cpu", "threads": 1, "wall_time_s": 60.0}}
    spent = report.compute_spent([record, record, {**record, "id": "b2"}])
    assert list(spent["run"]) == ["a1", "b2"] and spent["minutes"].sum() == 2.0


def test_run_ids_lists_every_record_of_each_row_in_order():
    from kdlib import report

    table = report.run_ids({"KD": [{"id": "a1"}, {"id": "b2"}], ("T", 4): [{"id": "c3"}]})
    assert table.loc["KD", "runs (one per seed)"] == "a1 b2"
    assert table.loc["('T', 4)", "runs (one per seed)"] == "c3"


def test_diverged_summary_names_what_diverged_not_only_sweep_cells():
    def record(model, method, diverged):
        return {"spec": {"dataset": "mnist", "model": model, "method": method}, "metrics": {"diverged": diverged}}

    records = [record("mlp_2x100", "noisy_teacher", True), record("lenet5_half", "noisy_teacher", True),
               record("mlp_2x100", "noisy_teacher", True), record("lenet5", "ce", False)]
    assert report.diverged_summary(records) == ("1 mnist lenet5_half noisy_teacher, 2 mnist mlp_2x100 noisy_teacher")
    assert report.diverged_summary(records[3:]) == "none"


def _timed(run_id, wall, steps, spec=None):
    """A record of ``wall`` seconds whose epochs spent ``steps`` seconds (a list, one per epoch) in the optimiser."""
    return {"id": run_id, "spec": spec or {}, "metrics": {"train_time_s": sum(steps)},
            "provenance": {"wall_time_s": wall}, "history": [{"train_time_s": s} for s in steps]}


def test_the_rebuild_cost_sums_each_record_once_and_splits_off_the_time_outside_the_steps():
    records = [_timed("a", 3600, [1000, 1700]), _timed("b", 1800, [900, 900]), _timed("a", 3600, [1000, 1700]),
               {**_timed("c", 1800, []), "history": [{"epoch": 1}]}]  # c times no step: counted, not in the share
    cost = report.rebuild_cost(records, workers=2)
    assert cost["runs"] == 3 and cost["timed_runs"] == 2
    assert cost["cpu_hours"] == pytest.approx(2.0) and cost["wall_hours"] == pytest.approx(1.0)
    assert cost["outside_steps_share"] == pytest.approx(1 - 4500 / 5400)
    with pytest.raises(ValueError, match="workers must be at least 1"):
        report.rebuild_cost(records, workers=0)
    # a resumed run: its last process ran 600 s, its steps took 2,000 s over both processes
    resumed = report.rebuild_cost([_timed("r", 600, [1000, 1000])], workers=1)
    assert resumed["cpu_hours"] == pytest.approx(2000 / 3600) and resumed["outside_steps_share"] == 0.0


def test_the_records_the_book_reads_include_every_teacher_however_deep_each_once(monkeypatch):
    from kdlib import chapters, runs
    from kdlib.spec import RunSpec

    grand = RunSpec("mnist", "lenet5", epochs=1)
    teacher = RunSpec("mnist", "lenet5", epochs=1, method="kd", teacher=grand)
    student = RunSpec("mnist", "mlp_2x100", epochs=1, method="kd", teacher=teacher)
    other = student.replace(seed=1)
    stored = {spec.id: _timed(spec.id, 60, [50], spec.to_dict()) for spec in (grand, teacher, student, other)}

    class Chapter:
        @staticmethod
        def results(profile, train_missing):
            assert not train_missing  # the census trains nothing
            return {"rows": [stored[student.id], stored[other.id]], "again": [stored[student.id]]}

        @staticmethod
        def testbed_overview(profile):
            return [("a testbed", {"row": [stored[other.id]]})]
    monkeypatch.setattr(chapters, "chapter_pages", lambda: {"fake": "00_fake"})
    monkeypatch.setattr(chapters, "get_chapter", lambda name: Chapter)
    loaded = []

    def read(spec, train_missing):
        loaded.append(spec.id)
        if spec.id not in stored:
            raise FileNotFoundError(f"no run record for {spec.id}")
        return stored[spec.id]
    monkeypatch.setattr(runs, "get_or_train", read)
    assert sorted(r["id"] for r in chapters.records_read("cpu")) == sorted(stored)
    assert sorted(loaded) == sorted([teacher.id, grand.id])  # each prerequisite read once
    del stored[grand.id]
    with pytest.raises(FileNotFoundError, match=grand.id):  # a teacher without a record stops the census
        chapters.records_read("cpu")


def test_the_cost_command_refuses_an_unknown_profile_and_names_the_known_ones(capsys):
    from kdlib import cli

    assert cli.main(["cost", "--profile", "gpu"]) == 2
    assert "unknown profile 'gpu'; choose one of: smoke, cpu, paper" in capsys.readouterr().err
