"""The introduction's MNIST rows beside Hinton et al.'s (§3): our mean ± std, ours − paper with its 95 % interval,
and whether the paper's count lies inside our interval, from synthetic records."""

import numpy as np
import pytest
from scipy import stats as scipy_stats

from kdlib import claims
from kdlib.chapters import Choose, introduction, Missing, specs_in

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
    table = introduction.paper_table(_mnist()).set_index("model")
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
    table = table.set_index("model")
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


# --- the recipe section: claims H1–H4 -----------------------------------------------------------------------------

def _recipe(teacher, student, distilled):
    recipe = {"teacher": _records(teacher, "mlp_2x1200_dropout"), "student": _records(student),
              "distilled": _records(distilled)}
    for role, records in recipe.items():
        for record in records:
            record["spec"]["epochs"] = 100 if role == "teacher" else 60
    return {"profile": "cpu", "pilots": {}, "recipe": recipe}


def test_counts_beside_the_papers_say_whether_the_paper_lies_in_our_interval():
    """H1–H3 only say whether the paper's count lies inside our 95 % interval (never "contradicted"); H4 is
    supported when the distilled student beats the student alone seed for seed."""
    found = {c.id: c for c in introduction.claims(_recipe(teacher=(66, 68, 67, 66, 68), student=(200, 203, 201, 199,
                                                                                                   202),
                                                          distilled=(73, 75, 74, 74, 75)))}
    assert found["H1"].verdict == found["H3"].verdict == "paper's value inside our CI"
    assert found["H2"].verdict == "paper's value outside our CI"  # 201 against 146, even with the paper's ±12
    assert "not a refuted claim" in found["H2"].reason
    assert found["H4"].verdict == "supported"
    assert found["H4"].comparisons[0].test == "paired"  # same seeds, model and data: seed-matched by design
    assert found["H4"].comparisons[0].effect == pytest.approx((201 - 74.2) / 100, abs=1e-6)  # points of accuracy


def test_distillation_is_untestable_when_the_teacher_does_not_beat_the_student():
    found = {c.id: c for c in introduction.claims(_recipe(teacher=(150, 152, 151), student=(146, 147, 145),
                                                          distilled=(120, 122, 121)))}
    assert found["H4"].verdict == "untestable here"
    assert "the teacher beats the student alone" in found["H4"].reason


def test_the_recipe_table_gives_paper_ours_budget_share_and_the_ledgers_verdict():
    results = _recipe(teacher=(66, 68, 67), student=(150, 152, 151), distilled=(74, 76, 75))
    ledger = introduction.claims(results)
    table = introduction.recipe_table(results["recipe"], ledger)
    assert table["paper: test errors (of 10,000)"].tolist() == [67, 146, 74]
    assert table["budget share"].tolist() == ["3.3%", "not stated by the paper", "not stated by the paper"]
    inside = {claims.PAPER_OUTCOMES[0]: "yes", claims.PAPER_OUTCOMES[1]: "no"}
    assert table["paper's value in our 95 % CI"].tolist() == [inside[c.verdict] for c in ledger
                                                             if c.id in ("H1", "H2", "H3")]
    assert [c.basis for c in ledger if c.id != "H4"] == ["paper number"] * 3  # never "contradicted"
    assert table["ours: test errors per 10,000 (mean ± std)"].iloc[1] == "151 ± 1"


def test_the_share_of_the_gap_closed_and_the_full_recipes_hours():
    ours, paper = introduction.gap_closed(_mnist(teacher=(60,), student=(160,), distilled=(110,)))
    assert ours == pytest.approx(50.0) and paper == pytest.approx(100 * (146 - 74) / (146 - 67))
    teachers = [{"spec": {"epochs": 100}, "metrics": {"train_time_s": 1800.0}},
                {"spec": {"epochs": 100}, "metrics": {"train_time_s": 2000.0}}]
    assert introduction.full_recipe_hours(teachers) == pytest.approx(19.0 * 3000 / 3600)


def _pilot_records(accuracy: dict) -> dict:
    """Hand-made pilot records by spec id, each with the final validation accuracy ``accuracy[ε_0]``."""
    return {spec.id: {"metrics": {"val_acc": accuracy[lr]}} for lr, spec in introduction.recipe_pilots("cpu").items()}


def test_the_plan_chooses_epsilon_0_on_validation_and_the_recipe_runs_follow_the_choice():
    """The plan reads earlier records only through choose, and only the pilots': the recipe's runs, the students
    without warm-up and the omitted-3 students all take the ε_0 whose pilot ends best on validation."""
    pilots = introduction.recipe_pilots("cpu")
    assert sorted(pilots) == [0.1, 0.3, 1.0, 10.0]
    assert {spec.stop_step for spec in pilots.values()} == {2 * 550}  # two epochs of 55,000 images in batches of 100
    records = _pilot_records({0.1: 0.95, 0.3: 0.96, 1.0: 0.52, 10.0: None})  # None: diverged
    read = []

    def pilot_record(spec):
        read.append(spec.id)
        return records.get(spec.id)
    planned = introduction.plan("cpu", Choose(pilot_record))
    assert sorted(read) == sorted(records)  # the pilots', each once, and no other record
    table = introduction.pilot_table({lr: records[spec.id] for lr, spec in reversed(pilots.items())})
    assert table["initial learning rate ε_0"].tolist() == ["0.1", "0.3", "1", "10 (the paper's)"]  # sorted by ε_0
    table = table.set_index("initial learning rate ε_0")
    assert table["chosen"].tolist() == ["", "←", "", ""]
    assert table.loc["10 (the paper's)", "validation accuracy after the pilot (%)"] == "diverged"
    runs = planned["recipe"]
    assert planned["pilots"] == pilots and [spec.lr for spec in runs["teacher"]] == [0.3] * 10  # ten seeds
    teacher = runs["teacher"][0]
    assert (teacher.optimizer, teacher.schedule, teacher.epochs, teacher.batch_size, teacher.augment) == \
        ("hinton2012", "hinton2012", 100, 100, "shift2")
    assert [spec.teacher for spec in runs["distilled"]] == runs["teacher"]  # student seed s learns from teacher s
    assert dict(runs["distilled"][0].method_params) == {"temperature": 20.0, "alpha": 0.9}
    assert {spec.schedule for spec in runs["student"] + runs["distilled"]} == {"warmup_cosine"}
    ablation = planned["without_warmup"]
    # the ablations keep seeds 0-2 (they explain choices, decide no claim); the recipe's rows have ten
    assert [spec.replace(schedule="warmup_cosine") for spec in ablation["distilled"]] == runs["distilled"][:3]
    assert [spec.seed for spec in planned["omitted"]] == [0, 1, 2]
    assert {spec.schedule for spec in ablation["student"]} == {"cosine"}
    assert {spec.teacher for spec in planned["omitted"]} == {teacher}  # every omitted-3 student: the seed-0 teacher
    assert {spec.omit_classes for spec in planned["omitted"]} == {(introduction.OMITTED_DIGIT,)}
    random = planned["random_teacher"]  # seeds 0-2, each taught by its own seed's teacher after one step
    assert random["teacher after one step"] == [spec.replace(stop_step=1) for spec in runs["teacher"][:3]]
    assert [spec.replace(teacher=t) for spec, t in zip(random["distilled from it"], runs["teacher"])] == \
        runs["distilled"][:3]
    records = _pilot_records({0.1: 0.95, 0.3: 0.96, 1.0: 0.97, 10.0: 0.97})  # a tie goes to the first ε_0
    other = introduction.plan("cpu", Choose(lambda spec: records.get(spec.id)))
    assert {spec.lr for spec in other["recipe"]["teacher"] + [s.teacher for s in other["omitted"]]} == {1.0}


def test_the_plan_stops_at_the_pilots_until_each_has_a_record():
    """A missing pilot record is the stage boundary: the pilots train first, with every run that needs no choice
    (the short-budget MNIST runs, the image grid and its ablation) beside them."""
    records = _pilot_records({0.1: 0.95, 0.3: 0.96, 1.0: 0.52, 10.0: 0.9})
    records.pop(introduction.recipe_pilots("cpu")[1.0].id)
    with pytest.raises(Missing) as missing:
        introduction.plan("cpu", Choose(lambda spec: records.get(spec.id)))
    assert missing.value.names == [introduction.RECIPE_CHOICE]
    short = [introduction.mnist_runs("cpu"), introduction.image_runs("cpu"),
             introduction.image_runs_without_warmup("cpu")]
    pilots = {spec.id for spec in introduction.recipe_pilots("cpu").values()}
    assert {spec.id for spec in missing.value.specs} == pilots | {spec.id for spec in specs_in(short)}


def test_the_stages_train_the_pilots_then_the_recipe_at_their_choice(monkeypatch):
    """The stages derived from the plan: with no record, the pilots (and what needs no choice); once the pilots have
    records, the recipe's runs at the ε_0 they chose."""
    from kdlib import runs

    records = _pilot_records({0.1: 0.95, 0.3: 0.96, 1.0: 0.52, 10.0: 0.9})
    pilots = {spec.id for spec in introduction.recipe_pilots("cpu").values()}
    monkeypatch.setattr(runs, "current_record", lambda spec: None)
    first, second = introduction.stages("cpu")
    assert pilots <= {spec.id for spec in first()}
    monkeypatch.setattr(runs, "current_record", lambda spec: records.get(spec.id))
    listed = {spec.id for spec in second()}
    recipe = introduction.recipe_runs("cpu", 0.3)
    assert {spec.id for spec in specs_in([recipe, introduction.omitted_runs("cpu", 0.3)])} <= listed


def test_the_results_are_the_recipe_sections_records(monkeypatch):
    """The ledger's records only (the page loads the short-budget runs itself), in the order the page reads them."""
    records = _pilot_records({0.1: 0.95, 0.3: 0.96, 1.0: 0.52, 10.0: 0.9})
    monkeypatch.setattr(introduction, "get_or_train",
                        lambda spec, *args, **kwargs: records.get(spec.id, {"id": spec.id}))
    found = introduction.results("cpu", train_missing=False)
    assert list(found) == ["profile", "pilots", "recipe", "without_warmup", "omitted", "random_teacher"]
    assert found["pilots"] == {lr: records[spec.id] for lr, spec in introduction.recipe_pilots("cpu").items()}
    chosen = introduction.recipe_runs("cpu", 0.3)
    assert [r["id"] for r in found["recipe"]["teacher"]] == [spec.id for spec in chosen["teacher"]]
    assert [r["id"] for r in found["omitted"]] == [s.id for s in introduction.omitted_runs("cpu", 0.3)]


def _omitted(val_errors, test_errors, on_threes, seed):
    """An omitted-3 record whose bias sweep has the given errors per shift (shifts 0, 1, 2, 3.5, 5)."""
    return {"id": f"omit-{seed}", "metrics": {"n_test": 10_000, "bias_sweep": [{
        "class": 3, "shifts": [0.0, 1.0, 2.0, 3.5, 5.0], "n_test_class": 1010, "n_val_class": 500,
        "val_errors": val_errors, "test_errors": test_errors, "test_errors_on_class": on_threes}]}}


def test_the_omitted_three_table_chooses_the_shift_on_validation_and_never_on_test():
    records = [_omitted([90, 60, 40, 40, 55], [210, 150, 120, 100, 90], [130, 60, 30, 15, 5], 0),
               _omitted([95, 70, 50, 30, 45], [200, 160, 125, 105, 95], [140, 70, 35, 14, 6], 1),
               _omitted([99, 40, 45, 52, 60], [220, 140, 118, 110, 99], [136, 65, 33, 16, 8], 2)]
    table = introduction.omitted_table(records).set_index(["transfer set without 3s", "count"])
    chosen = table.loc["the 3's logit + the shift chosen on validation (paper: its +3.5, chosen on test)"]
    # validation picks 2 (first of a tie), 3.5 and 1: never 5, where the test errors are lowest
    assert set(chosen["shift"]) == {"2, 3.5, 1"}
    assert chosen.loc["test errors (of 10,000)", "this book, MNIST (mean ± std)"] == \
        f"{np.mean([120, 105, 140]):.0f} ± {np.std([120, 105, 140], ddof=1):.0f}"
    assert chosen.loc["test errors (of 10,000)", "paper"] == 109  # the paper's own "right bias", chosen on test
    paper_shift = table.loc["the 3's logit + 3.5 (the paper's shift)"]
    assert paper_shift.loc["errors on the 1,010 test 3s", "paper"] == 14
    # ours − paper with the paper's binomial error inside the interval: se² = s²/n + 14·(1 − 14/1010)
    ours = np.array([15, 14, 16.0])
    se = np.sqrt(ours.var(ddof=1) / 3 + 14 * (1 - 14 / 1010))
    df = se ** 4 / ((ours.var(ddof=1) / 3) ** 2 / 2)
    half = scipy_stats.t.ppf(0.975, df) * se
    assert paper_shift.loc["errors on the 1,010 test 3s", "ours − paper [95 % CI]"] == \
        f"{ours.mean() - 14:+.0f} [{ours.mean() - 14 - half:+.0f}, {ours.mean() - 14 + half:+.0f}]"
    assert table.loc["no shift"].loc["test errors (of 10,000)", "paper"] == 206


def test_the_omitted_three_rows_say_whether_the_papers_count_lies_in_our_interval():
    far = [_omitted([90, 60, 40, 40, 55], [400, 150, 120, 100, 90], [300, 60, 30, 15, 5], seed) for seed in range(3)]
    table = introduction.omitted_table(far).set_index(["transfer set without 3s", "count"])
    column = "paper's value in our 95 % CI"
    assert table.loc["no shift"].loc["errors on the 1,010 test 3s", column] == "no"  # 300 against 133
    assert "verdict (matches within ± margin)" not in table.columns  # a difference is not a refuted claim


def test_the_papers_omitted_three_counts_are_drawn_on_each_panel():
    assert introduction.omitted_paper_points("all errors") == {"shift": [0.0, 3.5], "errors": [206.0, 109.0]}
    assert introduction.omitted_paper_points("errors on the 1,010 3s") == {"shift": [0.0, 3.5], "errors": [133.0, 14.0]}
    assert introduction.omitted_paper_points("errors on the 537 3s") == {"shift": [], "errors": []}  # validation


# --- the page's tables, figures and glued numbers, on hand-made records --------------------------------------------

def _image(accuracy, val=0.9, seed_base=0, collapsed=0, n_params=1234):
    """Image-grid runs with the given test accuracies (fractions), one per seed; the first ``collapsed`` ended at
    chance (final training accuracy 0.1)."""
    return [{"id": f"img-{seed_base}-{seed}", "spec": {"seed": seed, "dataset": "fashion_mnist", "model": "small_cnn",
                                                       "subset": None, "val_size": 5000, "batch_size": 128},
             "history": [{"epoch": 1, "train_acc": 0.1 if seed < collapsed else 0.9, "test_acc": value}],
             "metrics": {"test_acc": value, "val_acc": val, "n_params": n_params}}
            for seed, value in enumerate(accuracy)]


def _grid():
    student = _image([0.90, 0.91, 0.92])
    distilled = {(8.0, 0.9): _image([0.93, 0.94, 0.95], val=0.95, seed_base=3),  # best on validation
                 (2.0, 0.9): _image([0.89, 0.90, 0.91], val=0.93, seed_base=1),
                 (2.0, 0.5): _image([0.10, 0.91, 0.92], val=0.80, seed_base=2, collapsed=1),
                 (4.0, 0.5): _image([0.97, 0.97, 0.97], val=0.85, seed_base=4)}  # best on test, not chosen
    return student, distilled


def test_the_image_grid_is_sorted_by_t_then_alpha_and_its_cells_say_mean_delta_and_collapses():
    student, distilled = _grid()
    grid = introduction.image_grid(student, distilled)
    assert list(zip(grid["T"], grid["α"])) == [(2.0, 0.5), (2.0, 0.9), (4.0, 0.5), (8.0, 0.9)]
    assert grid.loc[3, "delta"] == pytest.approx(94.0 - 91.0)
    assert grid.loc[1, "cell"] == "90.00 ± 1.00\n(-1.00)"
    assert grid.loc[0, "collapsed"] == 1 and grid.loc[0, "cell"].endswith("\n1 of 3 at chance")
    assert grid.loc[0, "mean"] == pytest.approx(np.mean([10.0, 91.0, 92.0]))  # a run at chance stays in the mean


def test_the_best_image_cell_is_chosen_on_validation_and_the_page_numbers_follow_it():
    student, distilled = _grid()
    assert introduction.best_image_cell(student, distilled) == (8.0, 0.9)  # (4, 0.5) is better on test only
    teacher = {"metrics": {"test_acc": 0.9312}}
    numbers = introduction.image_numbers(teacher, student, distilled)
    assert numbers["image_teacher_acc"] == pytest.approx(93.12)
    assert numbers["image_student_acc"] == "91.00 ± 1.00"
    assert (numbers["image_best_t"], numbers["image_best_alpha"]) == ("8", "0.9")
    assert numbers["image_best_val"] == pytest.approx(95.0)
    comparison = claims.compare("KD (best cell) − CE", distilled[(8.0, 0.9)], student)
    assert numbers["image_best_delta"] == comparison.text() and numbers["image_best_test"] == comparison.test
    assert numbers["image_worst_delta"] == pytest.approx(np.mean([10.0, 91.0, 92.0]) - 91.0)
    assert (numbers["image_collapsed"], numbers["image_kd_runs"]) == (1, 12)


def test_the_image_heatmap_has_t_down_and_alpha_across_in_ascending_order():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    student, distilled = _grid()
    ax = introduction.image_heatmap(student, distilled)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["2.0", "4.0", "8.0"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.5", "0.9"]
    assert "90.00 ± 1.00\n(-1.00)" in [t.get_text() for t in ax.texts]
    plt.close("all")


def test_the_warmup_ablation_sets_each_student_beside_the_same_student_with_a_warmup():
    student, distilled = _grid()
    ablation = {"CE": _image([0.90, 0.92, 0.94]),
                introduction.kd_label(2.0, 0.5): _image([0.10, 0.10, 0.93], collapsed=2)}
    table = introduction.ablation_table(ablation, student, distilled)
    assert table["student"].tolist() == ["CE", "KD T=2, α=0.5"]
    row = table.set_index("student").loc["KD T=2, α=0.5"]
    assert row["no warm-up: runs at chance"] == "2 of 3" and row["warm-up: runs at chance"] == "1 of 3"
    assert row["no warm-up: test accuracy (%)"] == f"{np.mean([10, 10, 93]):.2f} ± {np.std([10, 10, 93], ddof=1):.2f}"
    assert table.set_index("student").loc["CE", "warm-up: test accuracy (%)"] == "91.00 ± 1.00"
    assert introduction.ablation_numbers(ablation) == {"ablation_collapsed": 2, "ablation_runs": 6}


def test_the_ablations_records_are_labelled_as_the_table_names_them(monkeypatch):
    monkeypatch.setattr(introduction, "get_or_train", lambda spec, *args, **kwargs: {"id": spec.id})
    found = introduction.image_records_without_warmup("cpu")
    assert list(found) == ["CE", "KD T=2, α=0.5", "KD T=8, α=0.9"] and [len(r) for r in found.values()] == [3, 3, 3]
    specs = introduction.image_runs_without_warmup("cpu")
    assert [r["id"] for r in found["KD T=8, α=0.9"]] == [spec.id for spec in specs["distilled"][(8.0, 0.9)]]


def test_the_zoo_table_gives_model_parameters_and_accuracy_per_role():
    mnist = {role: [{**r, "metrics": {**r["metrics"], "n_params": 1_275_010}} for r in records]
             for role, records in _mnist().items()}
    student, _ = _grid()
    table = introduction.zoo_table(mnist, _image([0.93], n_params=272_474)[0], student)
    assert table["role"].tolist() == ["MNIST teacher", "MNIST student", "Fashion-MNIST teacher",
                                      "Fashion-MNIST student"]
    assert table["parameters"].tolist()[0] == "1,275,010" and table["runs"].tolist() == [3, 3, 1, 3]
    assert table["test accuracy (%)"].tolist()[2:] == ["93.00", "91.00 ± 1.00"]
    assert table["model"].tolist()[:2] == ["mlp_2x1200_dropout", "mlp_2x800"]


def test_the_mnist_numbers_are_means_of_counts_and_the_gap_closed():
    mnist = _mnist(teacher=(60, 62, 64), student=(180, 181, 182), distilled=(110, 111, 109))
    for record in mnist["teacher"]:
        record["spec"]["epochs"] = 20
    numbers = introduction.mnist_numbers(mnist)
    assert numbers["mnist_teacher_errors"] == pytest.approx(62.0) and numbers["mnist_distilled_errors"] == \
        pytest.approx(110.0)
    assert numbers["mnist_gap_closed"] == pytest.approx(100 * (181 - 110) / (181 - 62))
    assert numbers["mnist_seeds"] == 3 and numbers["mnist_teacher_epochs"] == 20
    inside = introduction.paper_inside(introduction.paper_comparisons(mnist))
    assert numbers["mnist_inside"] == (", ".join(inside) or "none") and "student" not in inside  # 181 against 146


def _recipe_results():
    results = _recipe(teacher=(66, 68, 67), student=(150, 152, 151), distilled=(74, 76, 75))
    for records in results["recipe"].values():
        for record in records:
            record["provenance"] = {"threads": 1}
            record["metrics"]["train_time_s"] = 3600.0
    results["pilots"] = {10.0: {"metrics": {"val_acc": 0.8765}}, 0.3: {"metrics": {"val_acc": 0.97}}}
    results["without_warmup"] = {"student": _image([0.9, 0.9, 0.9]), "distilled": _image([0.1, 0.1, 0.9], collapsed=2)}
    return results


def test_the_recipe_numbers_come_from_the_records_not_from_a_formatted_table():
    results = _recipe_results()
    found = introduction.claims(results)
    numbers = introduction.recipe_numbers(results, found)
    assert numbers["recipe_paper_lr_val"] == "87.65 %"  # the paper's ε_0 pilot, read from its record
    assert numbers["recipe_share"] == "3.3%" and numbers["recipe_teacher_epochs"] == 100
    assert numbers["recipe_nowarmup_distilled"] == "2 of 3" and numbers["recipe_nowarmup_student"] == "0 of 3"
    assert numbers["recipe_full_hours"] == pytest.approx(36.0 * 3000 / 3600)
    assert numbers["recipe_threads"] == "1" and numbers["recipe_family"] == 1  # H4 alone is in the family
    assert {key: numbers[f"recipe_{key}_verdict"] for key in ("H1", "H4")} == \
        {"H1": found[0].verdict, "H4": found[3].verdict}
    results["pilots"][10.0] = {"metrics": {"val_acc": None}}
    assert introduction.recipe_numbers(results, found)["recipe_paper_lr_val"] == "diverged"


def test_the_recipe_tables_show_no_index_and_the_setup_is_read_from_the_records():
    from kdlib.spec import RunSpec

    results = _recipe_results()
    assert introduction.recipe_table(results["recipe"], introduction.claims(results))["model"].tolist() == \
        list(introduction.ROLE_NAMES.values())
    spec = RunSpec("mnist", "mlp_2x800", epochs=60, seed=0, lr=0.05, weight_decay=0.0, batch_size=100)
    setup = introduction.recipe_setup_table({"student": [{"spec": spec.to_dict()}]})
    assert setup.loc["epochs", "student"] == 60 and setup.loc["batch", "student"] == 100


def test_the_omitted_numbers_are_read_from_the_rows_of_its_table():
    records = [_omitted([90, 60, 40, 40, 55], [210, 150, 120, 100, 90], [130, 60, 30, 15, 5], 0),
               _omitted([95, 70, 50, 30, 45], [200, 160, 125, 105, 95], [140, 70, 35, 14, 6], 1),
               _omitted([99, 40, 45, 52, 60], [220, 140, 118, 110, 99], [136, 65, 33, 16, 8], 2)]
    numbers = introduction.omitted_numbers(records)
    assert numbers["omitted_seeds"] == 3 and numbers["omitted_shifts"] == "2, 3.5, 1"
    assert numbers["omitted_none_errors"] == "210 ± 10" and numbers["omitted_paper_threes"] == "15 ± 1"
    chosen = [120, 105, 140]  # the test errors at the shifts validation chose (2, 3.5, 1)
    assert numbers["omitted_chosen_errors"] == f"{np.mean(chosen):.0f} ± {np.std(chosen, ddof=1):.0f}"
    table = introduction.omitted_table(records)
    column = claims.PAPER_OUTCOME_COLUMN
    assert numbers["omitted_paper_inside"] == f"{table[column].iloc[2]} and {table[column].iloc[3]}"
    assert "key" not in table.columns


def test_the_omitted_figure_stops_at_the_chosen_range_and_draws_the_papers_counts():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [_omitted([90, 60, 40, 40, 55], [210, 150, 120, 100, 90], [130, 60, 30, 15, 5], seed)
               for seed in range(2)]
    for record in records:
        record["metrics"]["bias_sweep"][0]["val_errors_on_class"] = [60, 30, 15, 8, 3]
    grid = introduction.omitted_figure(records, max_shift=4)
    assert sorted(grid.axes_dict) == ["all errors", "errors on the 1,010 3s", "errors on the 500 3s"]
    for count, ax in grid.axes_dict.items():
        crosses = [line for line in ax.lines if line.get_marker() == "X"]
        assert [list(line.get_xdata()) for line in crosses] == [introduction.omitted_paper_points(count)["shift"]]
        curves = [line for line in ax.lines if line.get_marker() != "X" and len(line.get_xdata()) > 2]
        assert curves and max(max(line.get_xdata()) for line in curves) == 3.5  # the shift of 5 is cut
    assert list(grid.axes_dict["all errors"].lines[-1].get_ydata()) == [206.0, 109.0]
    plt.close("all")


def _random_teacher_results():
    """The recipe's students (four seeds) and, at seeds 0-2, students distilled from a teacher after one step."""
    results = _recipe(teacher=(66, 68, 67), student=(150, 152, 151), distilled=(74, 76, 75))
    after_one_step = _records((140, 139, 145))
    for record, agreement in zip(after_one_step, (0.11, 0.12, 0.10)):
        record["metrics"]["teacher_agreement"] = agreement
    for role, extra in (("student", 149), ("distilled", 10)):  # a seed the control did not run
        results["recipe"][role].append(_records((0, 0, 0, extra))[3])
    for record in after_one_step + results["recipe"]["distilled"]:
        record["spec"]["teacher"] = {"model": "mlp_2x1200_dropout"}
    teachers = _records((9000, 8900, 8950), "mlp_2x1200_dropout")
    results["random_teacher"] = {"teacher after one step": teachers, "distilled from it": after_one_step}
    return results


def test_the_random_teacher_control_compares_seeds_paired_against_scipys_paired_t():
    """Only the control's seeds enter; each difference is a paired t over them (scipy), in accuracy points."""
    results = _random_teacher_results()
    found = introduction.random_teacher_comparisons(results)
    after_one_step = np.array([140, 139, 145]) / 100  # errors per 10,000 → accuracy points, sign flipped below
    student, distilled = np.array([150, 152, 151]) / 100, np.array([74, 76, 75]) / 100
    for key, diff in (("untrained", student - after_one_step), ("trained", after_one_step - distilled)):
        t = scipy_stats.ttest_rel(diff, np.zeros(3))
        low, high = scipy_stats.t.interval(0.95, 2, loc=diff.mean(), scale=scipy_stats.sem(diff))
        assert found[key].effect == pytest.approx(diff.mean())
        assert found[key].p == pytest.approx(t.pvalue) and found[key].ci == pytest.approx((low, high))
    table = introduction.random_teacher_table(results).set_index("students")
    assert table["seeds"].tolist() == ["0, 1, 2"] * 3
    assert table.loc["distilled from the teacher after one step", "test errors per 10,000"] == "141 ± 3"
    assert table.loc["distilled from the trained teacher", "test errors per 10,000"] == "75 ± 1"  # seed 3 left out
    assert table.loc["student alone", "top-1 agreement with its teacher (%)"] == "–"
    assert table.loc["distilled from the trained teacher", "top-1 agreement with its teacher (%)"] == "not recorded"
    assert table.loc["distilled from the teacher after one step", "top-1 agreement with its teacher (%)"] == \
        "11.00 ± 1.00"
    numbers = introduction.random_teacher_numbers(results)
    assert numbers["random_seeds_list"] == "0, 1, 2" and numbers["random_teacher_acc"] == "10.50 ± 0.50"
    assert numbers["random_untrained_gain"] == found["untrained"].text()
