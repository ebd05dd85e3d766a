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


@pytest.fixture
def chosen_rate(monkeypatch):
    """The regression rate a pilot chose, without training the pilots."""
    monkeypatch.setattr(synthesis, "regression_lr", lambda profile, dataset, train_missing=True, device=None: 0.003)
    return 0.003


@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper"])
def test_every_real_data_method_shares_the_students_recipe_and_seeds(profile, chosen_rate):
    """One recipe for every method on real data, but for the regression rows' learning rate, chosen on validation."""
    for dataset in synthesis.budget(profile)["datasets"]:
        rows = synthesis.benchmark_runs(profile, dataset)
        assert list(rows) == list(synthesis.NEEDS)
        labels = rows["student on labels"]
        for label, specs in rows.items():
            assert [s.seed for s in specs] == [s.seed for s in labels], label
            if label in synthesis.DATA_FREE:
                assert all(s.val_size == 0 for s in specs), "a data-free run must not read a validation split"
                continue
            regression = label in ("logit regression", "noisy teacher")
            for spec, base in zip(specs, labels):
                assert spec.lr == (chosen_rate if regression else base.lr), label
                assert {f: getattr(spec, f) for f in RECIPE if f != "lr"} == \
                    {f: getattr(base, f) for f in RECIPE if f != "lr"}, label
            teacher = specs[0].teacher
            if label == "Tf-KD_self":
                assert teacher == labels[0]  # its own pre-trained copy
            elif synthesis.NEEDS[label][0] == "yes":
                assert teacher.model == "lenet5" and teacher.seed == 0
            else:
                assert teacher is None, label


def test_the_regression_rate_is_chosen_on_validation_among_rates_fixed_before_the_runs(monkeypatch):
    pilots = synthesis.regression_pilots("cpu", "mnist")
    assert list(pilots) == list(synthesis.REGRESSION_RATES) and {p.method for p in pilots.values()} == \
        {"logit_regression"} and {p.seed for p in pilots.values()} == {0}
    scores = {pilots[0.001].id: 0.95, pilots[0.003].id: 0.97, pilots[0.01].id: None}  # 0.01 diverged
    monkeypatch.setattr(synthesis.data_free, "record", lambda spec, train_missing=True, device=None:
                        {"metrics": {"val_acc": scores[spec.id]}})
    assert synthesis.regression_lr("cpu", "mnist") == 0.003
    stages = synthesis.stages("cpu")
    assert len(stages) == 2 and {spec.id for spec in stages[0]()} == {p.id for dataset in ("mnist", "fashion_mnist")
                                                                      for p in synthesis.regression_pilots(
                                                                          "cpu", dataset).values()}


def test_prerequisites_count_a_shared_teacher_once(chosen_rate):
    rdskd = synthesis.benchmark_runs("cpu", "mnist")["RDSKD"][0]
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
    assert table.loc["student on labels", "Δ vs labels [95 % CI]"] == "–"
    assert table.loc["Hinton KD", "Δ vs labels [95 % CI]"] == kd.text() and table.loc["Hinton KD", "test"] == "paired"
    assert table.loc["DAFL", "training (min)"] == pytest.approx(2.0)  # mean of 1, 2 and 3 minutes
    assert table.loc["Hinton KD", "p (Holm)"] == ("<0.001" if kd.p_holm < 0.001 else f"{kd.p_holm:.3f}")


def test_a_collapsed_seed_is_counted_and_left_out_not_averaged():
    results = _benchmark_results(gain_of_kd=0.5)
    rows = results["table"]["mnist"]
    rows["logit regression"][1] = {**rows["logit regression"][1], "history": [{"train_acc": 0.1}],
                                   "metrics": {"test_acc": 0.1009}}
    table = synthesis.benchmark_table(results, "mnist")
    assert table.loc["logit regression", "collapsed seeds"] == "1 of 3"
    kept = [rows["logit regression"][s]["metrics"]["test_acc"] * 100 for s in (0, 2)]
    assert table.loc["logit regression", "test acc (%), the others"] == \
        f"{np.mean(kept):.2f} ± {np.std(kept, ddof=1):.2f}"
    gain = synthesis.gains(results)["mnist"]["logit regression"]
    assert gain.n == (2, 2) and gain.excluded == 1  # the collapsed pair is left out and counted
