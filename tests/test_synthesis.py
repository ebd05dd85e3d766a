"""The synthesis chapter's common benchmark: one recipe for every method on real data, the small networks it adds
(LeNet-5-half with exits, a Rocket pair without sharing), and its gains with Holm's correction."""

import numpy as np
import pytest
import torch

from kdlib import stats
from kdlib.benchmark import multiply_accumulates
from kdlib.chapters import synthesis
from kdlib.methods import get_method, resolve_params
from kdlib.models import build_model, count_parameters

RECIPE = ("dataset", "epochs", "optimizer", "lr", "momentum", "weight_decay", "batch_size", "schedule", "augment",
          "val_size", "subset")


CHOSEN_RATE = 0.003  # a regression rate the pilots could have chosen, passed in without training them


@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper"])
def test_every_real_data_method_shares_the_students_recipe_and_seeds(profile):
    """One recipe for every method on real data, but for the regression rows' learning rate, chosen on validation."""
    for dataset in synthesis.budget(profile)["datasets"]:
        rows = synthesis.benchmark_runs(profile, dataset, CHOSEN_RATE)
        assert list(rows) == list(synthesis.NEEDS)
        labels = rows["student on labels"]
        for label, specs in rows.items():
            assert [s.seed for s in specs] == [s.seed for s in labels], label
            if label in synthesis.DATA_FREE:
                assert all(s.val_size == 0 for s in specs), "a data-free run must not read a validation split"
                continue
            regression = label in ("logit regression", "noisy teacher")
            for spec, base in zip(specs, labels):
                assert spec.lr == (CHOSEN_RATE if regression else base.lr), label
                assert {f: getattr(spec, f) for f in RECIPE if f != "lr"} == \
                    {f: getattr(base, f) for f in RECIPE if f != "lr"}, label
            teacher = specs[0].teacher
            if label == "Tf-KD_self":
                assert teacher == labels[0]  # its own pre-trained copy
            elif synthesis.NEEDS[label][0] == "yes":
                assert teacher.model == "lenet5" and teacher.seed == 0
            else:
                assert teacher is None, label


def test_the_plan_reads_the_pilots_only_through_choose_and_stops_while_they_are_missing():
    """The pilots are the plan's one door to earlier records: without their records it raises ``Missing`` with both
    datasets' grids (they train together); with them, each dataset's regression rows take the rate its pilots chose
    on validation, a diverged pilot coming last."""
    from kdlib.chapters import Choose, Missing

    pilots = {dataset: synthesis.regression_pilots("cpu", dataset) for dataset in ("mnist", "fashion_mnist")}
    assert all(list(grid) == list(synthesis.REGRESSION_RATES) for grid in pilots.values())
    assert {p.method for grid in pilots.values() for p in grid.values()} == {"logit_regression"}
    assert {p.seed for grid in pilots.values() for p in grid.values()} == {0}
    with pytest.raises(Missing) as missing:
        synthesis.plan("cpu", Choose(lambda spec: None))
    assert missing.value.names == [synthesis.pilot_choice("mnist"), synthesis.pilot_choice("fashion_mnist")]
    assert [s.id for s in missing.value.specs] == [p.id for grid in pilots.values() for p in grid.values()]

    scores = {pilots["mnist"][0.001].id: 0.95, pilots["mnist"][0.003].id: 0.97, pilots["mnist"][0.01].id: None,
              pilots["fashion_mnist"][0.001].id: 0.80, pilots["fashion_mnist"][0.003].id: 0.79,
              pilots["fashion_mnist"][0.01].id: 0.85}  # mnist's 0.01 diverged
    planned = synthesis.plan("cpu", Choose(lambda spec: {"metrics": {"val_acc": scores[spec.id]}}))
    for dataset, rate in (("mnist", 0.003), ("fashion_mnist", 0.01)):
        assert planned["table"][dataset] == synthesis.benchmark_runs("cpu", dataset, rate)
        assert {s.lr for row in ("logit regression", "noisy teacher") for s in planned["table"][dataset][row]} == \
            {rate}
    assert planned["pilots"] == pilots  # listed, so the last stage keeps the pilots that were not chosen


def test_the_stages_train_the_pilots_then_say_the_benchmark_is_undetermined_until_they_have_records():
    stages = synthesis.stages("cpu")  # the test's store is empty: no pilot has a record
    assert len(stages) == 2
    assert {spec.id for spec in stages[0]()} == {p.id for dataset in ("mnist", "fashion_mnist")
                                                 for p in synthesis.regression_pilots("cpu", dataset).values()}
    with pytest.raises(FileNotFoundError, match="regression lr on mnist"):
        stages[1]()


def test_the_results_hold_the_rows_and_what_each_needed_first_but_not_the_pilots(monkeypatch):
    """The pilots only choose the rate: the results hold the table's records and, per seed, its prerequisites'."""
    monkeypatch.setattr(synthesis.data_free, "record", lambda spec, train_missing=True, device=None: {
        "id": spec.id, "metrics": {"val_acc": 0.9 if spec.lr == 0.01 else 0.8}})
    found = synthesis.results("cpu", train_missing=False)
    assert list(found) == ["table", "prerequisites"]
    rows = synthesis.benchmark_runs("cpu", "fashion_mnist", 0.01)
    assert {label: [r["id"] for r in records] for label, records in found["table"]["fashion_mnist"].items()} == \
        {label: [s.id for s in specs] for label, specs in rows.items()}
    assert [[r["id"] for r in needed] for needed in found["prerequisites"]["fashion_mnist"]["RDSKD"]] == \
        [[s.teacher.id, s.generator.id] for s in rows["RDSKD"]]


def test_prerequisites_count_a_shared_teacher_once():
    rdskd = synthesis.benchmark_runs("cpu", "mnist", CHOSEN_RATE)["RDSKD"][0]
    before = synthesis.prerequisites(rdskd)
    assert len({run.id for run in before}) == len(before) == 2  # the LeNet-5 teacher and the generator run
    assert {run.model for run in before} == {"lenet5", rdskd.generator.model}


def test_the_self_distilled_students_deepest_exit_is_lenet5_half():
    network = build_model("lenet5_half_sd_exits", (1, 28, 28), 10).eval()
    student = build_model("lenet5_half", (1, 28, 28), 10)
    deepest = network.exit_network(3)
    assert count_parameters(deepest) == count_parameters(student)
    assert multiply_accumulates(deepest, (1, 28, 28)) == multiply_accumulates(student, (1, 28, 28))
    # the same layers in the same order: copying the student's weights in gives the student's outputs
    with torch.no_grad():
        for target, source in zip(deepest.parameters(), student.parameters()):
            target.copy_(source)
    x = torch.randn(4, 1, 28, 28)
    torch.testing.assert_close(network(x), student.eval()(x))
    logits, features = network.forward_exits(x)
    assert [tuple(f.shape) for f in features] == [(4, 42)] * 3 and [tuple(z.shape) for z in logits] == [(4, 10)] * 3


def test_the_rocket_pair_without_sharing_blocks_the_hint_from_the_booster():
    torch.manual_seed(0)
    pair = build_model("rocket_lenet5half_lenet5_none", (1, 28, 28), 10)
    light, booster = pair.forward_both(torch.randn(6, 1, 28, 28))
    terms = get_method("rocket").loss(light, torch.zeros(6, dtype=torch.long), booster,
                                      **resolve_params("rocket", {}))
    terms["hint"].backward()
    roles = pair.parameter_roles()
    assert roles["shared"] == [] and all(p.grad is None for p in roles["booster"])
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in roles["light"])
    assert pair.light_parameter_count() == count_parameters(build_model("lenet5_half", (1, 28, 28), 10))


def _benchmark_results(gain_of_kd: float):
    """Synthetic results for the benchmark table: every method has three seeds; KD sits ``gain_of_kd`` above."""
    def records(label, base):
        return [{"id": f"{label}-{seed}", "history": [{"train_acc": base}],
                 "metrics": {"test_acc": base + 0.001 * seed + (0.0002 if seed == 1 else 0)},
                 "spec": {"seed": seed, "dataset": "mnist", "model": "lenet5_half", "subset": None, "val_size": 5000,
                          "batch_size": 128}, "provenance": {"wall_time_s": 60.0 * (1 + seed)}}
                for seed in range(3)]

    table = {label: records(label, 0.97) for label in synthesis.NEEDS}
    noise = np.random.default_rng(0).normal(0, 0.003, size=(len(table), 3))
    for k, label in enumerate(list(synthesis.NEEDS)[2:]):  # the other methods: noise around the baseline
        for seed, record in enumerate(table[label]):
            record["metrics"] = {"test_acc": record["metrics"]["test_acc"] + noise[k, seed]}
    table["Hinton KD"] = [{**r, "metrics": {"test_acc": r["metrics"]["test_acc"] + gain_of_kd / 100
                                            + (0.0001 if r["spec"]["seed"] == 2 else 0)}}
                          for r in table["Hinton KD"]]
    return {"table": {"mnist": table}, "prerequisites": {"mnist": {label: [[], [], []] for label in table}}}


def test_benchmark_gains_are_paired_and_holm_adjusted_across_the_benchmark():
    from scipy import stats as scipy_stats

    results = _benchmark_results(gain_of_kd=0.5)
    gains = synthesis.gains(results)["mnist"]
    kd = gains["Hinton KD"]
    assert kd.test == "paired" and kd.effect == pytest.approx(0.5 + 0.01 / 3, abs=1e-9)
    seeds = [r["metrics"]["test_acc"] * 100 for r in results["table"]["mnist"]["Hinton KD"]]
    base = [r["metrics"]["test_acc"] * 100 for r in results["table"]["mnist"]["student on labels"]]
    assert kd.p == pytest.approx(scipy_stats.ttest_rel(seeds, base).pvalue)
    raw = [c.p for c in gains.values()]
    assert all(np.isfinite(raw)) and len(raw) == len(synthesis.NEEDS) - 1
    assert kd.p_holm == pytest.approx(stats.holm(raw)[list(gains).index("Hinton KD")])
    assert kd.p_holm > kd.p  # ten comparisons in the family
    assert synthesis.significant_gains(results) == {"mnist": {"higher": ["Hinton KD"], "lower": []}}
    table = synthesis.benchmark_table(results, "mnist")
    assert table["method"].tolist() == list(synthesis.NEEDS)  # the order of NEEDS, no index to hide
    table = table.set_index("method")
    assert table.loc["student on labels", "Δ vs labels [95 % CI]"] == "–"
    assert table.loc["Hinton KD", "Δ vs labels [95 % CI]"] == kd.text() and table.loc["Hinton KD", "test"] == "paired"
    assert table.loc["DAFL", "training (min)"] == "2.00"  # mean of 1, 2 and 3 minutes
    assert table.loc["Hinton KD", "p (Holm)"] == ("<0.001" if kd.p_holm < 0.001 else f"{kd.p_holm:.3f}")


def test_a_collapsed_seed_is_counted_and_left_out_not_averaged():
    results = _benchmark_results(gain_of_kd=0.5)
    rows = results["table"]["mnist"]
    rows["logit regression"][1] = {**rows["logit regression"][1], "history": [{"train_acc": 0.1}],
                                   "metrics": {"test_acc": 0.1009}}
    table = synthesis.benchmark_table(results, "mnist").set_index("method")
    assert table.loc["logit regression", "collapsed seeds"] == "1 of 3"
    kept = [rows["logit regression"][s]["metrics"]["test_acc"] * 100 for s in (0, 2)]
    assert table.loc["logit regression", "test acc (%), the others"] == \
        f"{np.mean(kept):.2f} ± {np.std(kept, ddof=1):.2f}"
    gain = synthesis.gains(results)["mnist"]["logit regression"]
    assert gain.n == (2, 2) and gain.excluded == 1  # the collapsed pair is left out and counted


# --- the page's tables, figures and sentences ----------------------------------------------------------------------

def test_the_setup_table_is_read_from_each_methods_seed_0_spec():
    rows = synthesis.benchmark_runs("cpu", "mnist", CHOSEN_RATE)
    results = {"table": {"mnist": {label: [{"spec": spec.to_dict()} for spec in specs]
                                   for label, specs in rows.items()}}}
    table = synthesis.setup_table(results)
    assert table["method"].tolist() == list(synthesis.NEEDS)
    row = table.set_index("method")
    assert row.loc["logit regression", "optimiser"] == f"{rows['logit regression'][0].optimizer}, lr {CHOSEN_RATE:g}"
    assert row.loc["student on labels", "teacher"] == "–"
    teacher = rows["Hinton KD"][0].teacher
    assert row.loc["Hinton KD", "teacher"] == f"lenet5 ({teacher.method}, {teacher.epochs} epochs)"
    assert row["training data"].to_dict() == {label: "generated" if label in synthesis.DATA_FREE else "real"
                                              for label in synthesis.NEEDS}


def test_the_chosen_regression_rate_is_read_from_the_rows_records_with_a_note_at_an_edge():
    def results(rates):
        return {"table": {dataset: {"logit regression": [{"spec": {"lr": lr}}]} for dataset, lr in rates.items()}}

    assert synthesis.regression_chosen(results({"mnist": 0.003})) == "MNIST: 0.003"
    assert synthesis.regression_chosen(results({"mnist": 0.003, "fashion_mnist": 0.01})) == \
        "MNIST: 0.003; Fashion-MNIST: 0.01, the grid's largest: a larger rate was not tried"


def test_the_significant_gains_are_worded_per_dataset():
    results = _benchmark_results(gain_of_kd=0.5)
    assert synthesis.significant_gains_text(results) == (
        "On MNIST, 1 of the 10 methods are significantly above the student on labels after Holm's correction "
        "(Hinton KD) and 0 significantly below it (none).")
    for record in results["table"]["mnist"]["logit regression"]:
        record["spec"] = {**record["spec"], "lr": 0.001}
    numbers = synthesis.page_numbers(results)
    assert numbers["summary"] == synthesis.significant_gains_text(results)
    assert numbers["regression_rates"] == "0.001, 0.003, 0.01"
    assert numbers["regression_chosen"] == "MNIST: 0.001, the grid's smallest: a smaller rate was not tried"
    assert numbers["collapse_note"] == "No run on real data ended at chance level."


def test_the_collapse_note_counts_runs_on_real_data_only():
    results = _benchmark_results(gain_of_kd=0.5)
    assert synthesis.collapse_note(results) == "No run on real data ended at chance level."
    rows = results["table"]["mnist"]
    rows["logit regression"][1] = {**rows["logit regression"][1], "history": [{"train_acc": 0.1}]}
    rows["DAFL"] = [{**record, "history": [{"train_acc": 0.1}]} for record in rows["DAFL"]]  # data-free: not here
    assert synthesis.collapse_note(results) == (
        "Some runs on real data ended at chance level (final training accuracy under 15 %) or diverged: logit "
        "regression on MNIST (1 of 3 seeds). They are counted, and left out of the means and comparisons above.")


def test_gain_against_cost_has_the_baseline_at_zero_and_counts_what_a_method_needs_first():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = _benchmark_results(gain_of_kd=0.5)
    teacher = {"id": "teacher", "provenance": {"wall_time_s": 600.0}}
    results["prerequisites"]["mnist"]["Hinton KD"] = [[teacher], [teacher], [teacher]]
    points = synthesis.gain_cost_points(results).set_index("method")
    assert points.loc["student on labels", "Δ test acc vs labels (points)"] == 0.0
    assert points.loc["Hinton KD", "Δ test acc vs labels (points)"] == \
        pytest.approx(synthesis.gains(results)["mnist"]["Hinton KD"].effect)
    assert points.loc["Hinton KD", "training cost, with what it needs first (min)"] == pytest.approx(2.0 + 10.0)
    assert points.loc["DAFL", "data"] == "no data (generated images)" and points.loc["Tf-KD_reg", "data"] == "real data"
    grid = synthesis.gain_cost_figure(results)
    assert grid.axes.shape == (2, 1)  # real data and generated data on rows of their own
    assert all(any(list(line.get_ydata()) == [0.0, 0.0] for line in ax.lines) for ax in grid.axes.flat)
    plt.close("all")


def _ledger():
    from types import SimpleNamespace

    def claim(id, chapter, verdict, n_comparisons=1):
        return SimpleNamespace(id=id, chapter=chapter, verdict=verdict, comparisons=(None,) * n_comparisons)

    return [claim("H4", "introduction", "supported", 2), claim("C1", "noisy_teachers", "inconclusive"),
            claim("C1", "noisy_teachers", "supported", 3), claim("C2", "noisy_teachers", "untestable here"),
            claim("H1", "introduction", "paper's value inside our CI")]


def test_the_ledger_numbers_and_the_verdicts_per_chapter_in_the_books_order():
    ledger = _ledger()
    numbers = synthesis.ledger_numbers(ledger)
    assert (numbers["n_claims"], numbers["n_settings"], numbers["n_comparisons"]) == (4, 5, 8)
    assert numbers["verdict_counts"] == ("2 supported, 0 contradicted, 0 equivalent, 1 inconclusive, "
                                         "1 untestable here, 1 paper's value inside our CI, "
                                         "0 paper's value outside our CI")
    table = synthesis.verdict_table(ledger)
    assert table.columns.tolist() == ["chapter", "supported", "inconclusive", "untestable here",
                                      "paper's value inside our CI"]
    assert table["chapter"].tolist() == ["introduction", "noisy_teachers"]  # the ledger's order, not the alphabet's
    assert table.set_index("chapter").loc["noisy_teachers"].tolist() == [1, 1, 1, 0]


def test_a_chapters_compact_table_holds_its_claims_only(monkeypatch):
    monkeypatch.setattr(synthesis.claims, "compact_table", lambda found: [claim.id for claim in found])
    assert synthesis.compact_table(_ledger(), "noisy_teachers") == ["C1", "C1", "C2"]
