"""Self-distillation (Zhang et al. 2019): the multi-exit networks, the loss, which parts the shallow terms train,
early exits, and the refusals."""

import numpy as np
import pytest
import torch

from kdlib import claims, runs
from kdlib.data import normalise
from kdlib.benchmark import multiply_accumulates
from kdlib.methods import get_method, resolve_params
from kdlib.methods.self_distillation import shallow_term_gradients
from kdlib.methods.self_distillation import SD_VARIANTS, SelfDistillationNet
from kdlib.models import build_model, count_parameters
from kdlib.spec import RunSpec
from kdlib.train import inherit_weights

NARROW = ((16, 32, 64, 128), 1)


def _net(variant: str, shape=(1, 28, 28), exits=(1, 2, 3, 4)) -> SelfDistillationNet:
    torch.manual_seed(0)
    return SelfDistillationNet(shape, 10, *NARROW, variant, exits)


@pytest.mark.parametrize("variant", SD_VARIANTS)
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_every_exit_gives_logits_and_deepest_width_features(variant, shape):
    model = _net(variant, shape).eval()
    x = torch.randn(5, *shape)
    logits, features = model.forward_exits(x)
    assert [tuple(t.shape) for t in logits] == [(5, 10)] * 4
    assert [tuple(t.shape) for t in features] == [(5, 128)] * 4
    torch.testing.assert_close(model(x), logits[-1])  # the network's own output is its deepest exit
    for k in (1, 2, 3, 4):
        torch.testing.assert_close(model.forward_exit(x, k), logits[k - 1])


def _numpy_sd_loss(exit_logits, exit_features, labels, alpha, temperature, lam):
    """The loss written out in numpy, independently of kdlib."""
    def log_softmax(z):
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    def ce(z):
        return -log_softmax(z)[np.arange(len(labels)), labels].mean()

    deep, deep_f = exit_logits[-1], exit_features[-1]
    total = ce(deep)
    for z, f in zip(exit_logits[:-1], exit_features[:-1]):
        log_q, log_p = log_softmax(deep / temperature), log_softmax(z / temperature)
        kl = (np.exp(log_q) * (log_q - log_p)).sum(axis=1).mean()
        hint = ((f - deep_f) ** 2).sum(axis=1).mean()
        total += (1 - alpha) * ce(z) + alpha * temperature ** 2 * kl + lam * hint
    return total


@pytest.mark.parametrize("alpha,temperature,lam", [(0.3, 3.0, 0.03), (0.9, 1.0, 1.0), (0.0, 2.0, 0.0)])
def test_loss_matches_an_independent_computation(alpha, temperature, lam):
    rng = np.random.default_rng(0)
    logits = [rng.normal(0, 3, (6, 5)) for _ in range(4)]
    features = [rng.normal(0, 1, (6, 7)) for _ in range(4)]
    labels = rng.integers(0, 5, 6)
    terms = get_method("self_distillation").loss(
        torch.tensor(logits[-1]), torch.tensor(labels), [torch.tensor(z) for z in logits],
        [torch.tensor(f) for f in features], **resolve_params("self_distillation",
                                                              dict(alpha=alpha, temperature=temperature, lam=lam)))
    assert terms["loss"].item() == pytest.approx(_numpy_sd_loss(logits, features, labels, alpha, temperature, lam),
                                                 rel=1e-10)


def test_without_kd_and_hint_the_loss_is_the_sum_of_the_exits_cross_entropies():
    torch.manual_seed(1)
    logits = [torch.randn(8, 4) for _ in range(3)]
    labels = torch.randint(0, 4, (8,))
    terms = get_method("self_distillation").loss(logits[-1], labels, logits, [torch.randn(8, 6) for _ in range(3)],
                                                 alpha=0.0, temperature=3.0, lam=0.0)
    expected = sum(torch.nn.functional.cross_entropy(z, labels) for z in logits)
    torch.testing.assert_close(terms["loss"], expected)


@pytest.mark.parametrize("variant", SD_VARIANTS)
def test_shallow_terms_never_train_the_deepest_exit(variant):
    """The rule: the deepest exit is the teacher, so the shallow exits' KD and hint terms send no gradient to the
    deepest stage or its classifier; they do train the shallow exits and the stages those share."""
    model = _net(variant).train()
    norms = shallow_term_gradients(model, torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,)))
    assert norms["stage4"] == 0.0 and norms["exit4 classifier"] == 0.0
    for part in ("stem", "stage1", "stage2", "stage3", "exit1 branch", "exit2 branch", "exit3 branch",
                 "exit1 classifier", "exit2 classifier", "exit3 classifier"):
        assert norms[part] > 0.0, part


def test_early_exit_runs_only_the_layers_up_to_its_stage():
    model = _net("iccv").eval()
    called = []
    parts = [(f"stage{k}", stage) for k, stage in enumerate(model.stages, start=1)]
    parts += [(f"{name} branch", branch) for name, branch in model.branches.items()]
    for name, module in parts:
        module.register_forward_hook(lambda *_, name=name: called.append(name))
    model.forward_exit(torch.randn(2, 1, 28, 28), 2)
    assert called == ["stage1", "stage2", "exit2 branch"]
    called.clear()
    model(torch.randn(2, 1, 28, 28))
    assert called == ["stage1", "stage2", "stage3", "stage4", "exit4 branch"]


@pytest.mark.parametrize("k", [1, 2, 3])
def test_an_exit_path_alone_is_exactly_that_exit_of_the_full_network(k):
    """The small networks the chapter trains for comparison have the exit's parameters, names and outputs."""
    full = _net("iccv").eval()
    alone = build_model(f"resnet10_narrow_exit{k}_iccv", (1, 28, 28), 10).eval()
    view = full.exit_network(k)
    assert count_parameters(alone) == count_parameters(view) < count_parameters(full)
    copied = inherit_weights(alone, full.state_dict())
    assert sorted(copied) == sorted(alone.state_dict())
    x = torch.randn(3, 1, 28, 28)
    torch.testing.assert_close(alone(x), full.forward_exit(x, k))
    torch.testing.assert_close(view(x), full.forward_exit(x, k))


@pytest.mark.parametrize("params,message", [
    ({"alpha": 1.5}, "alpha"), ({"alpha": -0.1}, "alpha"), ({"temperature": 0.0}, "temperature"),
    ({"temperature": -2.0}, "temperature"), ({"lam": -1.0}, "lam"), ({"beta": 1.0}, "no parameter beta")])
def test_bad_parameters_are_refused_before_training(params, message):
    with pytest.raises(ValueError, match=message):
        RunSpec("fashion_mnist", "resnet10_narrow_sd_iccv", method="self_distillation", method_params=params)


def test_unknown_variant_and_mismatched_method_are_refused():
    with pytest.raises(ValueError, match="unknown self-distillation variant 'vgg'"):
        SelfDistillationNet((1, 28, 28), 10, *NARROW, "vgg")
    with pytest.raises(ValueError, match="unknown model 'resnet10_narrow_sd_vgg'"):
        RunSpec("fashion_mnist", "resnet10_narrow_sd_vgg", method="self_distillation")
    with pytest.raises(ValueError, match="do not fit"):
        RunSpec("fashion_mnist", "resnet10_narrow_sd_iccv")  # plain CE would train the deepest exit only
    with pytest.raises(ValueError, match="do not fit"):
        RunSpec("fashion_mnist", "resnet10_narrow", method="self_distillation")
    with pytest.raises(ValueError, match="exits must be increasing"):
        SelfDistillationNet((1, 28, 28), 10, *NARROW, "iccv", exits=(3, 1))


def test_a_self_distillation_run_records_every_exit_and_the_ensemble(tiny):
    spec = RunSpec("mnist", "resnet10_narrow_sd_tpami", method="self_distillation", epochs=2, val_size=40,
                   batch_size=32, lr=0.05)
    record = runs.get_or_train(spec, progress="off")
    metrics = record["metrics"]
    assert metrics["test_acc"] == metrics["exit4_test_acc"] and metrics["val_acc"] == metrics["exit4_val_acc"]
    assert {f"exit{k}_test_acc" for k in range(1, 5)} | {"ensemble_test_acc"} <= set(metrics)
    assert metrics["ensemble_test_acc"] > 0.5  # three easy classes: learnt in two epochs
    model = runs.load_model(spec, progress="off").eval()  # the ensemble: argmax of the exits' summed logits
    with torch.no_grad():
        summed = torch.stack(model.forward_exits(normalise(tiny.test_images, tiny.mean, tiny.std))[0]).sum(0)
    assert (summed.argmax(1) == tiny.test_labels).float().mean().item() == pytest.approx(metrics["ensemble_test_acc"])


def test_multiply_accumulates_match_a_hand_count():
    """conv 1→2 channels, 3×3, padding 1 on a 4×4 image: 2·4·4 outputs × 9 MACs = 288; then 32 → 3 linear: 96."""
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(32, 3))
    assert multiply_accumulates(model, (1, 4, 4)) == 288 + 96
    depthwise = torch.nn.Conv2d(4, 4, 3, padding=1, groups=4)  # one 3×3 filter per channel: 4·4·4 outputs × 9
    assert multiply_accumulates(depthwise, (4, 4, 4)) == 64 * 9


def test_each_exit_costs_more_than_the_one_before():
    network = _net("tpami")
    macs = [multiply_accumulates(network.exit_network(k), (1, 28, 28)) for k in (1, 2, 3, 4)]
    parameters = [count_parameters(network.exit_network(k)) for k in (1, 2, 3, 4)]
    assert macs == sorted(macs) and len(set(macs)) == 4
    assert parameters[-1] == count_parameters(network) - sum(
        count_parameters(network.branches[f"exit{k}"]) + count_parameters(network.classifiers[f"exit{k}"])
        for k in (1, 2, 3))


# --- the chapter's claims (C14-C16), from synthetic records -------------------------------------------------------

from kdlib.chapters import self_distillation as chapter  # noqa: E402

BACKBONE = "resnet10_narrow"
SD_LABELS = ("SD, ICCV exits", "SD, ICCV exits, no hint", "SD, TPAMI exits", "SD, TPAMI exits, no hint",
             "deep supervision (ICCV exits)")
RISING = {variant: [{"exit": k, "parameters": 1000 * k, "multiply-accumulates": 10_000 * k} for k in (1, 2, 3, 4)]
          for variant in ("ICCV", "TPAMI")}


def _model(label):
    if label == "plain network":
        return BACKBONE, "ce"
    if label.startswith("SD") or label.startswith("deep"):
        return f"{BACKBONE}_sd_{'tpami' if 'TPAMI' in label else 'iccv'}", "self_distillation"
    k = label.split()[1]
    return f"{BACKBONE}_exit{k}_iccv", "kd" if "KD" in label else "ce"


def _records(label, accuracy, seconds, spread, ensemble=None, seeds=(0, 1, 2)):
    """One record per seed; ``accuracy`` is one number (points), or four, one per exit, for a multi-exit row."""
    model, method = _model(label)
    rng = np.random.default_rng(sum(map(ord, label)))
    out = []
    for seed in seeds:
        if isinstance(accuracy, tuple):
            metrics = {f"exit{k}_test_acc": (a + spread * rng.standard_normal()) / 100
                       for k, a in enumerate(accuracy, start=1)}
            metrics.update(test_acc=metrics["exit4_test_acc"],
                           ensemble_test_acc=(ensemble + spread * rng.standard_normal()) / 100)
        else:
            metrics = {"test_acc": (accuracy + spread * rng.standard_normal()) / 100}
        out.append({"id": f"{label}-{seed}", "metrics": metrics,
                    "spec": {"seed": seed, "dataset": "fashion_mnist", "model": model, "method": method,
                             "subset": 8000, "val_size": 5000, "batch_size": 128},
                    "history": [{"epoch": 1, "step": 315, "train_time_s": seconds + rng.standard_normal()}]})
    return out


def _results(exits=(85.0, 86.0, 87.0, 89.0), ensemble=90.0, plain=88.0, alone=(84.0, 85.0, 86.0),
             distilled=(85.0, 86.0, 87.0), spread=None, seconds=None, costs=None):
    """A chapter where self-distillation works (every variant's exits ``exits``), with the changes given."""
    spread = {"SD": 0.02, "plain": 0.02, "alone": 0.02, "kd": 0.02} | (spread or {})
    seconds = {"SD": 150.0, "plain": 100.0, "student": 60.0} | (seconds or {})
    table = {"plain network": _records("plain network", plain, seconds["plain"], spread["plain"])}
    for label in SD_LABELS:
        table[label] = _records(label, exits, seconds["SD"], spread["SD"], ensemble)
    for k in (1, 2, 3):
        table[f"exit {k} path alone"] = _records(f"exit {k} path alone", alone[k - 1], seconds["student"],
                                                 spread["alone"])
        label = f"exit {k} path, KD from the plain network"
        table[label] = _records(label, distilled[k - 1], seconds["student"], spread["kd"])
    return {"profile": "cpu", "table": table, "exit_costs": costs or RISING}


def _claims(results, variant="ICCV"):
    """This variant's claims by kind: C14, C15, C16 (accuracy) and C16 (cost)."""
    found = [c for c in chapter.claims(results) if c.setting.model.endswith(f"{variant} exits")]
    assert [c.id for c in found] == ["C14", "C15", "C16", "C16"]
    return dict(zip(("C14", "C15", "C16", "C16 cost"), found))


def test_self_distillation_claims_hold_when_it_works():
    for variant in ("ICCV", "TPAMI"):
        found = _claims(_results(), variant)
        assert found["C14"].verdict == "supported", found["C14"].reason
        assert found["C15"].verdict == "supported" and found["C15"].basis == "measurement"
        assert found["C16"].verdict == "equivalent", found["C16"].reason
        assert f"within ±{chapter.MATCH_MARGIN:g} points (TOST)" in found["C16"].reason
        assert found["C16 cost"].verdict == "supported"
        assert found["C16 cost"].comparisons[0].unit == "minutes"
        assert all(c.chapter == "self_distillation" for c in found.values())
        assert found["C14"].setting.dataset == "Fashion-MNIST (stand-in for CIFAR-100)"
    iccv, tpami = _claims(_results(), "ICCV")["C14"], _claims(_results(), "TPAMI")["C14"]
    assert iccv.setting.budget_share is None  # the conference paper's recipe is not known
    assert tpami.setting.budget_share == pytest.approx(315 / (250 * 391))


def test_exits_are_read_from_their_metrics_and_two_metrics_of_one_run_are_paired():
    c14 = _claims(_results())["C14"]
    by_label = {c.label: c for c in c14.comparisons}
    assert by_label["exit 4/4 − plain network"].effect == pytest.approx(1.0, abs=0.2)
    assert by_label["exit 1/4 − exit 1 path alone"].test == "welch"  # another network
    assert by_label["ensemble − exit 4/4"].test == "paired"  # the same runs
    assert by_label["ensemble − exit 4/4"].effect == pytest.approx(1.0, abs=0.1)


def test_c14_rests_on_the_deepest_exit_and_a_worse_ensemble_is_secondary():
    c14 = _claims(_results(ensemble=87.0))["C14"]
    assert c14.primary.label == "exit 4/4 − plain network" and c14.verdict == "supported"
    ensemble = c14.comparisons[-1]
    assert ensemble.label == "ensemble − exit 4/4" and ensemble.effect < 0 and ensemble.p_holm is None
    worse = _claims(_results(exits=(85.0, 86.0, 87.0, 86.0)))["C14"]  # the deepest exit below the plain network
    assert worse.verdict == "contradicted" and "exit 4/4 − plain network" in worse.reason


def test_noisy_exits_leave_c14_inconclusive():
    c14 = _claims(_results(exits=(84.2, 85.2, 86.2, 88.2), ensemble=88.4, spread={"SD": 1.5}))["C14"]
    assert c14.verdict == "inconclusive" and "MDE" in c14.reason


def test_kd_that_does_not_help_the_paths_makes_c14_and_c16_untestable():
    found = _claims(_results(distilled=(84.0, 85.0, 86.0)))
    for name in ("C14", "C16"):
        assert found[name].verdict == "untestable here"
        assert "KD from the plain network into the exit-1 path beats that path alone" in found[name].reason
    assert found["C16 cost"].verdict == "supported"  # cost rests on no precondition
    assert found["C15"].verdict == "supported"


def test_a_plain_network_no_better_than_a_path_makes_the_distillation_claims_untestable():
    found = _claims(_results(plain=86.0, spread={"plain": 0.5}, alone=(84.0, 85.0, 86.0)))
    assert found["C14"].verdict == "untestable here"
    assert [c.statement for c in found["C14"].failed_preconditions] == [
        "the plain network beats the exit-3 path alone"]
    assert found["C14"].reason.startswith("precondition failed: the plain network beats the exit-3 path alone")
    assert found["C16"].verdict == "untestable here"


def test_one_stage_far_from_two_contradicts_c16_and_a_noisy_one_is_inconclusive():
    far = _claims(_results(distilled=(86.5, 87.5, 88.5)))["C16"]  # 1.5 points above the exits
    assert far.verdict == "contradicted" and "beyond the margin" in far.reason
    noisy = _claims(_results(spread={"SD": 0.6}))
    assert noisy["C16"].verdict == "inconclusive" and "neither within" in noisy["C16"].reason


def test_c16_cost_adds_the_teacher_and_the_three_students_of_each_seed():
    results = _results(seconds={"SD": 400.0})
    two = chapter.two_stage_training(results["table"])
    first = [results["table"]["plain network"][0]] + [results["table"][f"exit {k} path, KD from the plain network"][0]
                                                       for k in (1, 2, 3)]
    assert two[0]["metrics"][claims.TIME_METRIC] == pytest.approx(sum(map(claims.training_seconds, first)))
    cost = _claims(results)["C16 cost"]
    assert cost.verdict == "contradicted"  # 400 s against 100 + 3 × 60 s
    assert cost.comparisons[0].effect == pytest.approx(120 / 60, abs=0.05) and cost.comparisons[0].test == "welch"


def test_c15_is_a_count_untestable_where_the_books_exits_make_a_shallower_path_cost_more():
    """Exits as kdlib builds them (the paper gives them in outline): a shallower path that costs more breaks the
    claim's premise in this setting, so C15 is untestable there, never contradicted."""
    costs = {**RISING, "ICCV": [{"exit": 1, "parameters": 5000, "multiply-accumulates": 10_000},
                                *RISING["ICCV"][1:]]}
    found = _claims(_results(costs=costs))
    assert found["C15"].verdict == "untestable here"
    assert "exit 1 has no fewer than exit 2" in found["C15"].reason and "premise" in found["C15"].reason
    assert found["C15"].comparisons == () and found["C15"].holds is False
    assert _claims(_results(costs=costs), "TPAMI")["C15"].verdict == "supported"


def test_exit_costs_count_the_built_networks(monkeypatch):
    from kdlib import data

    fake = data.Dataset("fashion_mnist", torch.zeros(4, 1, 28, 28, dtype=torch.uint8), torch.zeros(4).long(),
                        torch.zeros(4, 1, 28, 28, dtype=torch.uint8), torch.zeros(4).long(), 10, (0.3,), (0.3,))
    monkeypatch.setattr(data, "load", lambda name, root=None: fake)
    costs = chapter.exit_costs("cpu")
    tpami = _net("tpami")
    assert [c["parameters"] for c in costs["TPAMI"]] == [count_parameters(tpami.exit_network(k)) for k in (1, 2, 3, 4)]
    assert [c["multiply-accumulates"] for c in costs["TPAMI"]] == [
        multiply_accumulates(tpami.exit_network(k), (1, 28, 28)) for k in (1, 2, 3, 4)]


def test_the_ablations_are_descriptive_comparisons_outside_the_ledger():
    found = chapter.ablations(_results())
    assert list(found) == ["exit 1/4", "exit 2/4", "exit 3/4", "exit 4/4"]
    row = found["exit 4/4"]
    assert set(row) == {"SD − deep supervision (ICCV exits)", "hint − no hint (ICCV exits)",
                        "hint − no hint (TPAMI exits)"}
    assert all(c.test == "paired" and c.p_holm is None for c in row.values())


def test_one_seed_per_row_as_in_the_smoke_profile_tests_nothing():
    results = _results()
    results["table"] = {label: records[:1] for label, records in results["table"].items()}
    found = _claims(results)
    assert found["C14"].verdict == "untestable here" and found["C16"].verdict == "untestable here"
    assert found["C16 cost"].verdict == "inconclusive" and "no spread" in found["C16 cost"].reason
    assert found["C15"].verdict == "supported"  # a count needs no seeds


# --- the page's tables, figures and quoted numbers, from synthetic records ----------------------------------------

def _set(records, metric, values):
    """Give ``metric`` of each seed's record the value listed (fractions, as records hold them)."""
    for record, value in zip(records, values):
        record["metrics"][metric] = value
    return records


def test_accuracy_table_follows_the_papers_layout_in_points():
    results = _results()
    table = results["table"]
    _set(table["SD, ICCV exits"], "exit1_test_acc", [0.80, 0.82, 0.84])
    _set(table["plain network"], "test_acc", [0.88, 0.88, 0.91])
    _set(table["exit 2 path alone"], "test_acc", [0.85, np.nan, 0.87])  # a diverged seed is counted, not averaged
    frame = chapter.accuracy_table(results)
    assert list(frame.columns) == ["row", "data", "baseline", "exit 1/4", "exit 2/4", "exit 3/4", "exit 4/4",
                                   "ensemble"]
    assert list(frame["row"]) == [*SD_LABELS, "each path trained alone", "each path distilled from the plain network",
                                  "paper, ResNet-18", "official code, ResNet-18", "official code without the hint"]
    rows = frame.set_index("row")
    assert rows.loc["SD, ICCV exits", "exit 1/4"] == "82.00 ± 2.00"
    assert rows.loc["SD, ICCV exits", "baseline"] == rows.loc["each path trained alone", "exit 4/4"] == "89.00 ± 1.73"
    assert rows.loc["each path trained alone", "exit 2/4"] == "86.00 ± 1.41 (1 diverged)"
    assert rows.loc["each path distilled from the plain network", ["exit 4/4", "ensemble"]].tolist() == ["–", "–"]
    assert rows.loc["SD, TPAMI exits", "data"] == "Fashion-MNIST"
    paper = rows.loc["paper, ResNet-18"]
    assert paper["data"] == "CIFAR-100" and paper["exit 4/4"] == "78.64" and paper["ensemble"] == "79.67"


def test_exit_curves_are_each_exits_accuracy_per_epoch_of_the_two_rows():
    results = _results()
    for row in chapter.CURVE_ROWS:
        for record in results["table"][row]:
            record["history"] = [{"epoch": epoch, "train_time_s": 1.0,
                                  **{f"exit{k}_test_acc": 0.5 + 0.1 * k + 0.01 * epoch + 0.001 * record["spec"]["seed"]
                                     for k in (1, 2, 3, 4)}} for epoch in (1, 2)]
    frame = chapter.exit_curve_frame(results)
    assert len(frame) == 2 * 3 * 2 * 4  # rows × seeds × epochs × exits
    means = frame.groupby(["run", "epoch", "exit"])["test acc (%)"].mean()
    assert means["SD, TPAMI exits", 2, "3/4"] == pytest.approx(100 * (0.5 + 0.3 + 0.02 + 0.001))
    grid = chapter.exit_curves(results)
    assert [ax.get_title() for ax in grid.axes.flat] == [f"run = {row}" for row in chapter.CURVE_ROWS]
    import matplotlib.pyplot as plt
    plt.close("all")


def test_the_cost_table_lists_each_exit_path_with_its_counts_latency_and_accuracy():
    results = _results()
    _set(results["table"]["SD, TPAMI exits"], "exit2_test_acc", [0.86, 0.87, 0.88])
    _set(results["table"]["exit 3 path alone"], "test_acc", [0.85, np.nan, 0.86])
    latencies = {(network, k): {"latency, batch 1 (ms)": 0.5 * k, "latency, batch 256 (ms)": 12.345 * k}
                 for network in ("SD, ICCV exits", "SD, TPAMI exits", "trained alone") for k in (1, 2, 3, 4)}
    frame = chapter.cost_frame(results, latencies)
    assert list(zip(frame["network"], frame["exit"])) == [
        (network, f"{k}/4") for network in ("SD, ICCV exits", "trained alone", "SD, TPAMI exits") for k in (1, 2, 3, 4)]
    rows = frame.set_index(["network", "exit"])
    assert rows.loc[("SD, TPAMI exits", "2/4"), "test acc (%)"] == pytest.approx(87.0)
    assert rows.loc[("trained alone", "3/4"), "test acc (%)"] == pytest.approx(85.5)  # the diverged seed left out
    assert rows.loc[("trained alone", "4/4"), "parameters"] == RISING["ICCV"][3]["parameters"]  # the ICCV path's
    shown = chapter.cost_table(results, latencies).set_index(["network", "exit"])
    assert shown.loc[("SD, ICCV exits", "3/4")].tolist() == ["3,000", "0.03", "1.50", "37.0", "87.00"]
    assert "latency, batch 1 (ms)" not in chapter.cost_frame(results)  # no latencies given: no latency columns


def test_accuracy_for_cost_labels_every_point_with_its_exit():
    import matplotlib.pyplot as plt

    ax = chapter.accuracy_for_cost(_results())
    assert [text.get_text() for text in ax.texts] == [f"{k}/4" for _ in range(3) for k in (1, 2, 3, 4)]
    assert ax.get_xlabel() == "multiply-accumulates (M)" and ax.get_ylabel() == "test acc (%)"
    plt.close("all")


def test_the_training_time_table_adds_the_teacher_to_its_students():
    table = _results()["table"]
    mean = {label: np.mean([claims.training_seconds(r) for r in records]) for label, records in table.items()}
    frame = chapter.training_time_frame({"table": table}).set_index("procedure")
    teacher = mean["plain network"]
    students = [mean[f"exit {k} path, KD from the plain network"] for k in (1, 2, 3)]
    seconds = frame["training time (s)"]
    assert seconds["one stage: self-distillation, ICCV exits (all four exits)"] == pytest.approx(mean["SD, ICCV exits"])
    assert seconds["two stages: plain network, then KD into the exit-2 path"] == pytest.approx(teacher + students[1])
    assert seconds.iloc[-1] == pytest.approx(teacher + sum(students))  # = two_stage_training, averaged over seeds
    assert frame["relative to the plain network"].iloc[-1] == pytest.approx((teacher + sum(students)) / teacher)
    assert list(frame.index[:2]) == ["one stage: self-distillation, TPAMI exits (all four exits)",
                                     "one stage: self-distillation, ICCV exits (all four exits)"]
    shown = chapter.training_time_table({"table": table})
    assert shown["training time (s)"].iloc[-1] == f"{teacher + sum(students):.0f}"
    assert shown["relative to the plain network"].iloc[-1] == f"{(teacher + sum(students)) / teacher:.2f}"
    per_seed = [claims.training_seconds(table["plain network"][s])
                + sum(claims.training_seconds(table[f"exit {k} path, KD from the plain network"][s]) for k in (1, 2, 3))
                for s in (0, 1, 2)]
    assert chapter.two_stage_seconds(table) == pytest.approx(np.mean(per_seed))


def test_the_stage_accuracy_table_puts_each_shallow_exit_beside_its_two_stage_student():
    results = _results()
    _set(results["table"]["exit 2 path, KD from the plain network"], "test_acc", [0.861, 0.862, 0.863])
    frame = chapter.stage_accuracy_table(results)
    assert list(frame["exit"]) == ["1/4", "2/4", "3/4"]
    assert list(frame.columns) == ["exit", "self-distillation, ICCV exits", "self-distillation, TPAMI exits",
                                   "two stages (KD from the plain network)", "path trained alone"]
    assert frame.loc[1, "two stages (KD from the plain network)"] == "86.20 ± 0.10"


def test_the_ablation_table_gives_each_exits_effects_with_raw_p():
    frame = chapter.ablation_table(_results())
    assert list(frame["exit"]) == ["exit 1/4", "exit 2/4", "exit 3/4", "exit 4/4"]
    found = chapter.ablations(_results())["exit 2/4"]["hint − no hint (TPAMI exits)"]
    assert frame.loc[1, "hint − no hint (TPAMI exits)"] == f"{found.text()} (p {found.p:.3f})"


def test_the_exit_table_describes_the_built_branches():
    frame = chapter.exit_table(BACKBONE, (1, 28, 28), 10)
    assert list(zip(frame["exits"], frame["exit"])) == [(v, f"{k}/4") for v in ("ICCV", "TPAMI") for k in (1, 2, 3, 4)]
    rows = frame.set_index(["exits", "exit"])
    assert [rows.loc[("ICCV", f"{k}/4"), "stage output"].split("×")[0] for k in (1, 2, 3, 4)] == ["16", "32", "64",
                                                                                                  "128"]
    assert rows.loc[("ICCV", "1/4"), "branch"] == "conv 1×1/1 → conv 8×8/8 → conv 1×1/1"
    assert rows.loc[("TPAMI", "1/4"), "branch"].startswith("attention → SepConv/2")
    assert rows.loc[("ICCV", "4/4"), "branch"] == "(none: the network's own head)"
    path = _net("tpami").exit_network(2)
    assert rows.loc[("TPAMI", "2/4"), "parameters used up to this exit"] == f"{count_parameters(path):,}"
    assert rows.loc[("TPAMI", "2/4"), "multiply-accumulates"] == f"{multiply_accumulates(path, (1, 28, 28)):,}"


def test_exit_latencies_time_every_path_once(monkeypatch):
    from kdlib import data

    fake = data.Dataset("fashion_mnist", torch.zeros(4, 1, 28, 28, dtype=torch.uint8), torch.zeros(4).long(),
                        torch.zeros(4, 1, 28, 28, dtype=torch.uint8), torch.zeros(4).long(), 10, (0.3,), (0.3,))
    monkeypatch.setattr(data, "load", lambda name, root=None: fake)
    found = chapter.exit_latencies(_results(), repeats=1)
    assert sorted(found) == sorted((network, k) for network in ("SD, ICCV exits", "SD, TPAMI exits", "trained alone")
                                   for k in (1, 2, 3, 4))
    assert all(set(v) == {"latency, batch 1 (ms)", "latency, batch 256 (ms)"} and min(v.values()) > 0
               for v in found.values())


def test_setup_specs_are_each_roles_seed_zero_spec():
    results = _results()
    specs = chapter.table_runs("cpu")
    for label in ("plain network", "SD, TPAMI exits", "exit 1 path alone", "exit 1 path, KD from the plain network"):
        results["table"][label][0]["spec"] = specs[label][0].to_dict()
    found = chapter.setup_specs(results)
    assert list(found) == ["plain network", "self-distillation", "exit 1 path alone", "two-stage student"]
    assert found["two-stage student"].id == specs["exit 1 path, KD from the plain network"][0].id
    assert found["self-distillation"].model == "resnet10_narrow_sd_tpami"


def test_page_numbers_give_every_glued_value():
    results = _results()
    found = chapter.page_numbers(results, chapter.claims(results))
    names = ["profile", "seeds", "epochs", "dataset_name", "alpha", "temperature", "lam", "subset", "plain_time_range",
             "sd_over_plain", "two_stage_all_over_plain", "threads", "margin",
             *[f"{name}_{variant}" for variant in ("ICCV", "TPAMI") for name in ("verdicts", "deepest", "ensemble",
                                                                                 "time")],
             "precondition_note"]
    assert sorted(found) == sorted(names)
    assert found["seeds"] == 3 and found["subset"] == "8,000 training images" and found["margin"] == 0.5
    assert found["sd_over_plain"] == pytest.approx(1.5, abs=0.05)  # 150 s against 100 s
    assert found["two_stage_all_over_plain"] == pytest.approx(2.8, abs=0.05)  # 100 + 3 × 60 s
    assert found["verdicts_ICCV"] == "C14 supported; C15 supported; C16 (accuracy) equivalent; C16 (cost) supported"
    assert found["deepest_TPAMI"].startswith("+1.0")
    assert found["precondition_note"] == "Every precondition of C14 and C16 held at this scale."
    failing = _results(distilled=(84.0, 85.0, 86.0))
    note = chapter.page_numbers(failing, chapter.claims(failing))["precondition_note"]
    assert note.startswith("Untestable here: C14 (ICCV exits), C14 (TPAMI exits), C16 (ICCV exits)")
    assert "KD from the plain network into the exit-1 path beats that path alone" in note
