"""The noisy teacher (Sau & Balasubramanian 2016): the perturbation, the L2 loss, the checks, several teachers."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kdlib.chapters import Choose, Missing
from kdlib.runs import current_record
import torch

from kdlib import methods, runs
from kdlib.methods.noisy import logit_regression_loss, perturb_logits
from kdlib.methods import get_method, resolve_params
from kdlib.paths import results_dir
from kdlib.spec import RunSpec

ROOT = Path(__file__).resolve().parent.parent


def test_no_noise_leaves_the_targets_exactly_unchanged():
    z = torch.randn(64, 10) * 5
    assert torch.equal(perturb_logits(z, alpha=0.0, sigma=2.0), z)
    assert torch.equal(perturb_logits(z, alpha=1.0, sigma=0.0), z)


@pytest.mark.parametrize("alpha, sigma", [(0.3, 0.2), (0.8, 1.0)])
def test_perturbed_fraction_and_noise_match_alpha_and_sigma(alpha, sigma):
    torch.manual_seed(0)
    z = torch.rand(200_000, 10) + 0.5  # away from zero, so z'/z − 1 = ξ is well defined
    ratio = perturb_logits(z, alpha, sigma) / z - 1.0
    perturbed = (ratio != 0).any(dim=1)
    assert perturbed.float().mean().item() == pytest.approx(alpha, abs=0.005)
    xi = ratio[perturbed]
    assert xi.mean().item() == pytest.approx(0.0, abs=0.01 * sigma)
    assert xi.std().item() == pytest.approx(sigma, rel=0.01)
    assert (ratio[~perturbed] == 0).all()


def test_noise_is_per_logit_by_default_and_one_scalar_per_row_as_an_option():
    z = torch.rand(1000, 10) + 0.5
    per_logit = perturb_logits(z, 1.0, 0.5) / z
    per_row = perturb_logits(z, 1.0, 0.5, per_sample=True) / z
    assert (per_logit.std(dim=1) > 0.1).all()  # ten different factors in every row
    assert torch.allclose(per_row, per_row[:, :1].expand_as(per_row), rtol=1e-5)  # one factor per row


def test_noise_is_drawn_afresh_at_every_step():
    torch.manual_seed(0)
    z = torch.randn(32, 10)
    first, second = perturb_logits(z, 1.0, 0.5), perturb_logits(z, 1.0, 0.5)
    assert not torch.equal(first, second)


def test_l2_loss_matches_an_independent_computation():
    rng = np.random.default_rng(0)
    student, teacher = rng.normal(size=(16, 10)) * 3, rng.normal(size=(16, 10)) * 3
    expected = np.mean([0.5 * sum((s - t) ** 2 for s, t in zip(row_s, row_t))
                        for row_s, row_t in zip(student, teacher)])
    got = logit_regression_loss(torch.tensor(student), torch.tensor(teacher)).item()
    assert got == pytest.approx(expected, rel=1e-12)
    terms = get_method("logit_regression").loss(torch.tensor(student), torch.zeros(16), torch.tensor(teacher))
    assert terms["loss"].item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("name", ["logit_regression", "noisy_teacher", "noisy_student"])
def test_gradients_reach_the_student_only(name):
    student = torch.randn(8, 10, requires_grad=True)
    teacher = torch.randn(8, 10, requires_grad=True)
    method = get_method(name)
    loss = method.loss(student, torch.zeros(8, dtype=torch.long), teacher, **resolve_params(name, {}))["loss"]
    loss.backward()
    assert teacher.grad is None
    assert student.grad is not None and student.grad.abs().sum() > 0


def test_teacher_noise_leaves_the_expected_gradient_unchanged_student_noise_adds_a_penalty():
    """E_ξ ½‖s − (1+ξ)z‖² = ½‖s − z‖² + ½σ²‖z‖²: a constant in s, so the mean gradient is the clean one. With the
    noise on the student, E ½‖(1+ξ)s − z‖² = ½‖s − z‖² + ½σ²‖s‖²: an L2 penalty on the student's logits."""
    torch.manual_seed(0)
    sigma, draws = 0.5, 20_000
    s, z = torch.randn(1, 10, dtype=torch.float64) * 2, torch.randn(1, 10, dtype=torch.float64) * 2
    clean = logit_regression_loss(s, z).item()
    batch_s, batch_z = s.expand(draws, 10).clone().requires_grad_(True), z.expand(draws, 10)
    teacher_noise = logit_regression_loss(batch_s, perturb_logits(batch_z, 1.0, sigma))
    (gradient,) = torch.autograd.grad(teacher_noise, batch_s)
    assert teacher_noise.item() == pytest.approx(clean + 0.5 * sigma ** 2 * z.pow(2).sum().item(), rel=0.02)
    assert torch.allclose(gradient.sum(0), (s - z)[0], atol=0.05)  # batch mean of the per-row gradients
    student_noise = logit_regression_loss(perturb_logits(s.expand(draws, 10), 1.0, sigma), z).item()
    assert student_noise == pytest.approx(clean + 0.5 * sigma ** 2 * s.pow(2).sum().item(), rel=0.02)


@pytest.mark.parametrize("params, message", [
    ({"alpha": 1.5}, r"alpha \(the probability that a row is perturbed\) must lie in \[0, 1\], got 1.5"),
    ({"alpha": -0.1}, r"must lie in \[0, 1\], got -0.1"),
    ({"sigma": -0.2}, r"sigma \(the noise's standard deviation\) must be >= 0, got -0.2"),
    ({"per_sample": 2}, r"per_sample \(one ξ per row instead of one per logit \(the paper\)\) is a flag: 0 \(off\) or 1 \(on\), got 2"),
    ({"sigmma": 0.1}, "method 'noisy_teacher' has no parameter sigmma; its parameters: alpha, per_sample, sigma"),
])
def test_bad_noise_parameters_are_refused_before_training(params, message):
    with pytest.raises(ValueError, match=message):
        RunSpec("mnist", "mlp_2x100", method="noisy_teacher", method_params=params,
                teacher=RunSpec("mnist", "lenet5"))


def test_the_cli_refuses_bad_noise_and_writes_nothing(tmp_path):
    teacher = RunSpec("mnist", "lenet5", epochs=1)
    results_dir().mkdir(parents=True)
    (results_dir() / f"{teacher.id}.json").write_text(json.dumps({"id": teacher.id, "spec": teacher.to_dict()}))
    before = sorted(results_dir().iterdir())
    result = subprocess.run([sys.executable, "-m", "kdlib", "run", "--dataset", "mnist", "--model", "mlp_2x100",
                             "--method", "noisy_teacher", "--teacher", teacher.id, "--param", "alpha=2"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    assert "alpha (the probability that a row is perturbed) must lie in [0, 1], got 2.0" in result.stderr
    assert sorted(results_dir().iterdir()) == before


def test_adding_extra_teachers_kept_every_stored_id():
    """The new field is left out of the id when empty: each committed record still hashes to its own name."""
    for path in sorted((ROOT / "results").glob("*.json")):
        record = json.loads(path.read_text())
        assert RunSpec.from_dict(record["spec"]).id == record["id"] == path.stem


def test_extra_teachers_change_the_id_and_round_trip():
    teacher = RunSpec("mnist", "lenet5", epochs=1)
    single = RunSpec("mnist", "mlp_2x100", method="logit_regression", teacher=teacher)
    several = single.replace(extra_teachers=(teacher.replace(seed=1), teacher.replace(seed=2)))
    assert several.id != single.id
    again = RunSpec.from_dict(json.loads(json.dumps(several.to_dict())))
    assert again == several and again.id == several.id
    with pytest.raises(ValueError, match="extra_teachers need a first teacher"):
        RunSpec("mnist", "mlp_2x100", extra_teachers=(teacher,))
    with pytest.raises(ValueError, match="use augment='none'"):
        several.replace(augment="shift2")


def test_each_row_learns_from_one_teacher_drawn_at_random(tiny, monkeypatch):
    """Two teachers with constant logits +1 and −1: every row the method sees holds one of them, both appear."""
    from kdlib.train import train

    seen = []

    def spy(student_logits, labels, teacher_logits):
        seen.append(teacher_logits.detach().clone())
        return methods.METHODS["logit_regression"].loss(student_logits, labels, teacher_logits)

    monkeypatch.setitem(methods.METHODS, "spy", methods.Method("spy", methods.NoParams, "classifier", True, loss=spy))
    teacher = RunSpec("mnist", "mlp_2x100", epochs=1, batch_size=16, val_size=40)
    spec = RunSpec("mnist", "mlp_2x100", method="spy", teacher=teacher, epochs=1, batch_size=16, val_size=40,
                   extra_teachers=(teacher.replace(seed=1),))
    logits = torch.stack([torch.ones(len(tiny.train_images), 3), -torch.ones(len(tiny.train_images), 3)], dim=1)
    train(spec, tiny, teacher_logits=logits, progress="off")
    rows = torch.cat(seen)
    assert len(rows) == len(tiny.train_images) - 40
    assert ((rows == 1).all(dim=1) | (rows == -1).all(dim=1)).all()
    assert 0.35 < (rows[:, 0] == 1).float().mean().item() < 0.65


def test_a_noisy_teacher_student_trains_through_the_store(tiny):
    teacher = RunSpec("mnist", "mlp_2x100", epochs=1, batch_size=16, val_size=40)
    spec = RunSpec("mnist", "mlp_2x100", method="noisy_teacher", teacher=teacher, epochs=2, batch_size=16,
                   val_size=40, lr=0.01, method_params={"alpha": 0.5, "sigma": 0.3},
                   extra_teachers=(teacher.replace(seed=1),))
    record = runs.get_or_train(spec, progress="off")
    assert record["spec"]["extra_teachers"][0]["seed"] == 1
    assert np.isfinite(record["history"][-1]["train_l2"])
    assert record["metrics"]["test_acc"] > 0.5  # three easy classes: it learns from the regressed logits


def test_the_chapter_picks_settings_on_validation_and_never_trains_when_told_not_to(tiny):
    from kdlib.chapters import noisy_teachers

    with pytest.raises(FileNotFoundError, match="no run record"):
        noisy_teachers.results("smoke", train_missing=False)
    assert not results_dir().exists() or not list(results_dir().glob("*.json"))
    pilots = noisy_teachers.lr_pilots("smoke", "mnist")["ce"]
    for lr, spec in pilots.items():  # fake records: the larger rate has the better validation accuracy
        results_dir().mkdir(parents=True, exist_ok=True)
        (results_dir() / f"{spec.id}.json").write_text(json.dumps({"metrics": {"val_acc": lr}}))
    assert Choose(current_record)("mnist ce learning rate", pilots) == max(pilots)


def test_the_plan_reads_earlier_records_only_through_choose_and_follows_its_choices():
    """Hand-made records: validation prefers the last rate and the last sweep cell, test the first. The plan must
    choose on validation, build the sweeps at the chosen L2 rate and the table at the sweeps' choices, and ask for
    exactly the grid records it chooses from."""
    from kdlib.chapters import noisy_teachers as chapter

    names = chapter.budget("smoke")["datasets"]
    asked = []

    def read(spec):
        asked.append(spec.id)
        return {"metrics": {"val_acc": spec.lr + sum(v for _, v in spec.method_params), "test_acc": -spec.lr}}
    planned = chapter.plan("smoke", Choose(read))
    for dataset in names:
        rates = chapter.budget("smoke", dataset)["learning_rates"]
        found = planned["datasets"][dataset]
        assert found["learning_rates"] == {"ce": max(rates["ce"]), "l2": max(rates["l2"])}
        grids = chapter.sweeps("smoke", dataset, max(rates["l2"]))
        assert found["sweeps"] == grids
        table = found["table"]
        assert table["student on labels"][0].lr == max(rates["ce"])
        assert table["noisy teacher"][0] == grids["noisy_teacher"][max(grids["noisy_teacher"])]
        assert table["logit regression"][0].teacher == chapter.teachers("smoke", dataset)[0]
    nt1 = planned["testbeds"]["NT-1"]
    pilots_and_sweeps = {spec.id for grid in (
        *[grid for dataset in names for grid in (*chapter.lr_pilots("smoke", dataset).values(),
                                                 *planned["datasets"][dataset]["sweeps"].values())],
        *nt1["pilots"].values(), *nt1["sweeps"].values()) for spec in grid.values()}
    assert set(asked) == pilots_and_sweeps  # no teacher, no table row is read to plan

    def missing_sweeps(spec):
        return None if spec.method == "noisy_student" else read(spec)
    with pytest.raises(Missing) as missing:
        chapter.plan("smoke", Choose(missing_sweeps))
    assert missing.value.names == [*[f"{dataset} noisy_student" for dataset in names], "NT-1 noisy_student"]


def test_nt1_pairs_each_student_seed_with_its_own_teacher_at_the_settings_chosen_on_validation():
    """NT-1's table: student seed s learns from teacher seed s (several teachers: s, s+1, s+2), every row at the
    pilot's choices (seed 0's validation accuracy), the sweeps at the chosen L2 setting."""
    from kdlib.chapters import noisy_teachers as chapter

    testbed = chapter.nt1_testbed("cpu")
    preferred = {("adam", 0.0003), 0.03, (0.6, 0.2), (1.0, 0.4), ("mlp_2x100_drop20", 0.0003)}

    def read(spec):  # validation prefers one cell of each grid; test would prefer another
        params = dict(spec.method_params)
        key = {"ce": spec.lr, "logit_regression": (spec.optimizer, spec.lr)}.get(spec.method)
        if spec.method in ("noisy_teacher", "noisy_student"):
            key = (params["alpha"], params["sigma"])
        if spec.model in chapter.DROPOUT_STUDENTS:
            key = (spec.model, spec.lr)
        return {"metrics": {"val_acc": 0.9 if key in preferred else 0.5, "test_acc": 0.5 if key in preferred else 0.9}}
    nt1 = chapter.plan("cpu", Choose(read))["testbeds"]["NT-1"]
    seeds = list(chapter.budget("cpu")["nt1_seeds"])
    assert seeds == list(range(10)) and nt1["learning_rates"] == {"ce": 0.03, "l2": ("adam", 0.0003)}
    table = nt1["table"]
    assert [s.seed for s in table["student on labels"]] == seeds and {s.lr for s in table["student on labels"]} == {0.03}
    for row in ("logit regression", "noisy teacher", "noisy student", "student dropout", chapter.SEVERAL_TEACHERS):
        assert [(s.seed, s.teacher.seed) for s in table[row]] == [(seed, seed) for seed in seeds], row
        assert {(s.optimizer, s.train_size, s.teacher.train_size) for s in table[row]} == {("adam", 1000, 1000)}
    assert dict(table["noisy teacher"][3].method_params) == {"alpha": 0.6, "sigma": 0.2}
    assert dict(table["noisy student"][3].method_params) == {"alpha": 1.0, "sigma": 0.4}
    assert {s.model for s in table["student dropout"]} == {"mlp_2x100_drop20"}
    assert [tuple(t.seed for t in s.extra_teachers) for s in table[chapter.SEVERAL_TEACHERS]] == [
        ((seed + 1) % 10, (seed + 2) % 10) for seed in seeds]
    assert {(s.optimizer, s.lr, s.seed) for g in nt1["sweeps"].values() for s in g.values()} == {
        ("adam", 0.0003, 0), ("adam", 0.0001, 0), ("adam", 0.001, 0)}  # dropout tries the Adam rates only
    # seeds 0-1 of the two baseline rows are the pilot's own runs (same ids: their records are reused)
    pilot = chapter.nt1_pilot(testbed)
    assert table["student on labels"][1] == pilot["student on labels"][0.03][1]
    assert table["logit regression"][1] == pilot["logit regression"][("adam", 0.0003)][1]
    assert chapter.plan("paper", Choose(read))["testbeds"] == {}  # NT-1 is no paper's recipe


def test_a_diverged_sweep_cell_is_stored_as_such_and_only_when_asked(tiny):
    """lr 10 on logit regression overflows. By default that is an error and nothing is written; a sweep keeps it
    as a record (error, epochs done, no accuracy), which is then loaded, never re-trained, and cannot teach."""
    teacher = RunSpec("mnist", "mlp_2x100", epochs=1, batch_size=16, val_size=40)
    spec = RunSpec("mnist", "mlp_2x100", method="logit_regression", teacher=teacher, epochs=2, batch_size=16,
                   val_size=40, lr=10.0, schedule="constant")
    with pytest.raises(FloatingPointError, match="non-finite terms: l2="):
        runs.get_or_train(spec, progress="off")
    assert not (results_dir() / f"{spec.id}.json").exists()
    record = runs.get_or_train(spec, progress="off", keep_divergence=True)
    assert record["metrics"]["diverged"] is True and record["metrics"]["val_acc"] is None
    assert "the loss became" in record["metrics"]["error"] and isinstance(record["history"], list)
    assert json.loads((results_dir() / f"{spec.id}.json").read_text()) == record
    assert runs.get_or_train(spec, train_missing=False) == record
    with pytest.raises(ValueError, match="diverged .* it has no model to load"):
        runs.load_model(spec)


def test_every_profile_declares_its_teachers_and_grids():
    from kdlib.chapters import noisy_teachers

    for profile in ("smoke", "cpu", "paper"):
        for dataset in noisy_teachers.budget(profile)["datasets"]:
            b = noisy_teachers.budget(profile, dataset)
            teachers = noisy_teachers.teachers(profile, dataset)
            assert [t.seed for t in teachers] == list(b["seeds"]) and {t.dataset for t in teachers} == {dataset}
    assert noisy_teachers.budget("paper")["datasets"] == ("mnist", "svhn", "cifar10")
    cpu = noisy_teachers.budget("cpu")
    assert len(cpu["alphas"]) * len(cpu["sigmas"]) >= 25 and len(cpu["seeds"]) >= 3
    # the introduction's Fashion-MNIST teacher is reused, not trained again
    from kdlib.chapters import introduction
    assert noisy_teachers.teachers("cpu", "fashion_mnist")[0] == introduction.image_runs("cpu")["teacher"]


# --- the chapter's claims, from synthetic records -------------------------------------------------------------------

from kdlib.chapters import noisy_teachers as chapter  # noqa: E402

JITTER = (0.0, 0.004, -0.004)  # per-seed wobble (points): small, so a one-point effect is clear after Holm


def _turn(jitter, steps):
    """The wobble moved on by ``steps`` seeds: two rows turned differently differ by more than a constant."""
    return tuple(jitter[(i + steps) % len(jitter)] for i in range(len(jitter)))


def _record(points, seed, dataset="mnist", model="mlp_2x100", method="ce", params=None, val=None):
    """One synthetic run record: test accuracy ``points`` (None: the run diverged)."""
    return {"id": f"{dataset}-{model}-{method}-{seed}-{points}",
            "spec": {"seed": seed, "dataset": dataset, "model": model, "subset": None, "val_size": 5000,
                     "batch_size": 128, "method": method, "method_params": dict(params or {}), "epochs": 20,
                     "lr": 0.003},
            "metrics": {"test_acc": None if points is None else points / 100,
                        "val_acc": None if points is None else (points if val is None else val) / 100,
                        "diverged": points is None},
            "history": [{"train_acc": 0.9}]}


def _row(base, shift, dataset, method="ce", model="mlp_2x100", params=None, jitter=JITTER):
    return [_record(base + shift + j + 0.01 * seed, seed, dataset, model, method, params)
            for seed, j in enumerate(jitter)]


def _dataset(dataset="mnist", teacher=99.0, l2=1.0, noisy=1.0, noisy_student=0.0, dropout=0.0, several=0.0,
             largest_sigma=-10.0, teacher_seeds=(99.0, 98.9, 99.1), noisy_jitter=JITTER, seeds=3,
             costs=((61_706, 416_520), (89_610, 89_400))):
    """One dataset's results: the student on labels at 90 points; every other row is given as a shift, in points,
    from the row it is compared with (l2 from labels, noisy from l2, the controls from noisy, several teachers
    from noisy). The seed-0 sweep has 3 α × 2 σ; ``largest_sigma`` shifts the larger σ from the smaller one."""
    labels = 90.0
    chosen = {"alpha": 0.6, "sigma": 0.1}
    table = {"student on labels": _row(labels, 0, dataset, jitter=JITTER[:seeds]),
             "logit regression": _row(labels, l2, dataset, "logit_regression", jitter=_turn(JITTER, 1)[:seeds]),
             "noisy teacher": _row(labels, l2 + noisy, dataset, "noisy_teacher", params=chosen,
                                   jitter=_turn(noisy_jitter, 2)[:seeds]),
             "noisy student": _row(labels, l2 + noisy - noisy_student, dataset, "noisy_student",
                                   jitter=JITTER[:seeds]),
             "student dropout": _row(labels, l2 + noisy - dropout, dataset, "logit_regression",
                                     "mlp_2x100_drop20", jitter=_turn(JITTER, 1)[:seeds]),
             chapter.SEVERAL_TEACHERS: _row(labels, l2 + noisy - several, dataset, "logit_regression",
                                            jitter=JITTER[:seeds])}
    sweep = {}
    for k, alpha in enumerate((0.2, 0.6, 1.0)):
        sweep[(alpha, 0.1)] = _record(91.0 + 0.3 * k, 0, dataset, method="noisy_teacher")
        shifted = None if largest_sigma is None else 91.0 + 0.3 * k + largest_sigma + 0.1 * k * k
        sweep[(alpha, 1.6)] = _record(shifted, 0, dataset, method="noisy_teacher")
    (teacher_params, teacher_macs), (student_params, student_macs) = costs
    return {"dataset": dataset,
            "teachers": [_record(value, seed, dataset, "lenet5") for seed, value in
                         enumerate((teacher, *teacher_seeds[1:])[:seeds])],
            "sweeps": {"noisy_teacher": sweep}, "table": table,
            "costs": {"teacher": {"model": "lenet5", "parameters": teacher_params,
                                  "multiply-accumulates": teacher_macs},
                      "student": {"model": "mlp_2x100", "parameters": student_params,
                                  "multiply-accumulates": student_macs}}}


def _claims(**changes):
    """The chapter's claims on MNIST and Fashion-MNIST, the MNIST records changed by ``changes``."""
    results = {"profile": "cpu", "datasets": {"mnist": _dataset("mnist", **changes),
                                              "fashion_mnist": _dataset("fashion_mnist")}}
    return chapter.claims(results)


def _claim(found, claim_id, dataset="MNIST", statement=""):
    matches = [c for c in found if c.id == claim_id and c.setting.dataset == dataset
               and c.statement.startswith(statement)]
    assert len(matches) == 1, [(c.id, c.setting.dataset) for c in found]
    return matches[0]


def test_results_has_the_chapter_signature_and_never_trains_when_told_not_to():
    import inspect

    parameters = inspect.signature(chapter.results).parameters
    assert list(parameters) == ["profile", "train_missing", "device"]
    assert parameters["train_missing"].default is True and parameters["device"].default is None
    with pytest.raises(FileNotFoundError, match="no run record"):
        chapter.results("smoke", train_missing=False)


def test_one_claim_per_dataset_never_mixing_them_and_holm_within_the_chapter():
    found = _claims()
    for claim_id in ("C1", "C3", "C5"):
        assert sorted(c.setting.dataset for c in found if c.id == claim_id) == sorted(
            ["MNIST", "Fashion-MNIST (stand-in for SVHN and CIFAR-10)"])
    assert [c.basis for c in found if c.id == "C4"].count("derivation") == 1
    for claim in found:
        assert claim.chapter == "noisy_teachers"
        for comparison in claim.comparisons:  # every comparison reads one dataset's records
            assert comparison.n[0] in (3, 1)
    primaries = [claim.primary for claim in found if claim.basis == "test"]
    assert primaries and all(c.p_holm is not None for c in primaries if c.margin is None)
    secondary = [c for claim in found if claim.basis == "test" for c in claim.comparisons[1:]]
    assert secondary and all(c.p_holm is None for c in secondary)  # described, outside the family
    c1 = _claim(found, "C1")
    assert c1.comparisons[0].p_holm > c1.comparisons[0].p  # adjusted across the chapter's family


def test_nt1_claims_use_its_own_sesoi_and_margin_and_a_per_seed_teacher_control():
    """NT-1 joins the paper's family as one more setting of C1-C4 (no C5: its networks are the MNIST setting's),
    with the SESOI and margin fixed for its accuracy and gap, and its teacher control paired seed by seed."""
    nt1 = {**_dataset("mnist", teacher=97.0, teacher_seeds=(97.0, 96.9, 97.1)), "name": chapter.NT1_NAME,
           "testbed": "NT-1, fallback (i)", "per_seed_teachers": True}
    results = {"profile": "cpu", "datasets": {"mnist": _dataset("mnist"), "fashion_mnist": _dataset("fashion_mnist")},
               "testbeds": {"NT-1": nt1}}
    found = chapter.claims(results)
    c1, c3, c4 = (_claim(found, key, chapter.NT1_NAME) for key in ("C1", "C3", "C4"))
    assert c1.declared_sesoi == chapter.NT1_SESOI and c3.declared_sesoi == chapter.NT1_SESOI
    assert c4.comparisons[0].margin == chapter.NT1_MATCH_MARGIN
    assert not [c for c in found if c.id == "C5" and c.setting.dataset == chapter.NT1_NAME]
    teacher = c1.preconditions[0]
    assert teacher.holds and "teacher − student on labels" in teacher.evidence and "seed 0" not in teacher.evidence
    mnist = _claim(found, "C1")
    assert mnist.declared_sesoi[0] == 0.2  # the full-data setting keeps the dataset's rule
    family = [claim.primary for claim in found if claim.basis == "test"]
    assert len(family) == len(_claims_primaries()) + 3  # NT-1's three primaries join the paper's family


def _claims_primaries():
    return [claim.primary for claim in _claims() if claim.basis == "test"]


def test_c1_supported_when_the_noisy_teacher_is_clearly_better():
    claim = _claim(_claims(noisy=1.0), "C1")
    assert claim.comparisons[0].test == "paired"  # same seeds, data order and model: seed-matched by design
    assert claim.comparisons[0].effect == pytest.approx(1.0, abs=1e-6)
    assert claim.verdict == "supported", claim.reason
    assert "significant in the claimed direction" in claim.reason


def test_c1_contradicted_when_the_noisy_teacher_is_clearly_worse():
    claim = _claim(_claims(noisy=-1.0), "C1")
    assert claim.verdict == "contradicted"
    assert "opposite direction" in claim.reason and "noisy teacher − logit regression" in claim.reason


def test_c1_inconclusive_within_the_noise_and_says_how_large_an_effect_it_could_see():
    claim = _claim(_claims(noisy=0.05, noisy_jitter=(0.0, 0.4, -0.4)), "C1")
    assert claim.verdict == "inconclusive"
    assert "MDE" in claim.reason and claim.comparisons[0].mde > 0.05


def test_c3_is_decided_by_its_primary_comparison_against_the_noisy_student():
    assert _claim(_claims(noisy_student=1.0, dropout=1.0), "C3").verdict == "supported"
    mixed = _claim(_claims(noisy_student=1.0, dropout=-1.0), "C3")
    assert mixed.verdict == "supported"  # dropout is a secondary comparison: described, never deciding
    dropout = next(c for c in mixed.comparisons if "dropout" in c.label)
    assert dropout.test == "welch" and dropout.effect < 0  # another model: not seed-matched by design
    against_noisy_student = _claim(_claims(noisy_student=-1.0, dropout=1.0), "C3")
    assert against_noisy_student.verdict == "contradicted" and "noisy teacher − noisy student" in \
        against_noisy_student.reason


def test_c4_several_teachers_equivalent_within_the_margin():
    claim = _claim(_claims(several=0.0), "C4", statement="one noisy teacher")  # several beat one by the noise's 1.0
    assert claim.expect == "matches" and claim.comparisons[0].margin == chapter.MATCH_MARGIN["mnist"]
    assert claim.verdict == "equivalent", claim.reason
    assert f"±{chapter.MATCH_MARGIN['mnist']:g} points (TOST)" in claim.reason


def test_c4_contradicted_when_several_teachers_differ_beyond_the_margin():
    claim = _claim(_claims(several=-1.0), "C4", statement="one noisy teacher")
    assert claim.verdict == "contradicted" and "beyond the margin" in claim.reason


def test_c4_needs_several_teachers_to_beat_one():
    claim = _claim(_claims(noisy=0.0, several=0.0), "C4", statement="one noisy teacher")
    assert claim.verdict == "untestable here"
    assert "several real teachers beat one (plain logit regression)" in claim.reason


def test_c4_inconclusive_when_neither_within_nor_beyond_the_margin():
    claim = _claim(_claims(several=0.0, noisy_jitter=(0.0, 0.3, -0.3)), "C4", statement="one noisy teacher")
    assert claim.verdict == "inconclusive" and "neither within" in claim.reason


def test_c4_regulariser_is_quoted_and_a_derivation_cannot_decide_it():
    """The paper's words ("a noise-based regularizer"), not a stronger rewording: the derivation shows that no
    explicit penalty is added, which leaves an implicit regulariser open, so the verdict is inconclusive."""
    claim = _claim(_claims(), "C4", dataset=chapter._c4_derivation().setting.dataset, statement="the perturbation")
    assert claim.basis == "derivation" and not claim.comparisons
    assert '"a noise-based regularizer while training the student from the teacher"' in claim.statement
    assert claim.verdict == "inconclusive" and "does not depend on the student" in claim.reason


@pytest.mark.parametrize("kind", ["C1", "C3", "C4"])
def test_a_teacher_no_better_than_the_student_makes_the_kd_claims_untestable(kind):
    found = _claims(teacher=89.0, noisy=1.0)
    claim = _claim(found, kind, statement="" if kind != "C4" else "one noisy teacher")
    assert claim.verdict == "untestable here"
    assert "the teacher beats the student on labels" in claim.reason
    assert "logit regression beats" not in claim.reason  # that control still holds
    assert _claim(found, kind, "Fashion-MNIST (stand-in for SVHN and CIFAR-10)",
                  "" if kind != "C4" else "one noisy teacher").verdict != "untestable here"


@pytest.mark.parametrize("l2", [0.0, -1.0])
def test_logit_regression_no_better_than_labels_makes_the_kd_claims_untestable(l2):
    found = _claims(l2=l2, noisy=1.0)
    for kind, statement in (("C1", ""), ("C3", ""), ("C4", "one noisy teacher")):
        claim = _claim(found, kind, statement=statement)
        assert claim.verdict == "untestable here"
        assert "plain logit regression beats the student on labels" in claim.reason
        # still in the Holm family: the family is fixed by the ledger, not by which controls pass
        assert (claim.primary.p_equivalence_holm if claim.primary.margin else claim.primary.p_holm) is not None
    assert _claim(found, "C5").verdict == "untestable here"  # this student is larger than its teacher: no premise


def test_one_seed_cannot_show_a_control_so_the_kd_claims_are_untestable():
    claim = _claim(_claims(seeds=1), "C1")
    assert claim.verdict == "untestable here" and "no spread" in claim.reason


def test_c2_too_much_noise_is_a_measurement_on_one_seeds_sweep():
    hurt = _claim(_claims(largest_sigma=-10.0), "C2", statement="too much noise")
    assert hurt.basis == "measurement" and not hurt.comparisons and hurt.verdict == "supported"
    assert "α = 0.2: 81.0 vs 91.0" in hurt.reason and "no spread over seeds" in hurt.reason
    assert _claim(_claims(largest_sigma=+2.0), "C2", statement="too much noise").verdict == "contradicted"
    diverged = _claim(_claims(largest_sigma=None), "C2", statement="too much noise")
    assert diverged.verdict == "supported" and "3 of 3 cells at the largest σ ended below 1.5 × chance" in \
        diverged.reason  # a diverged cell counts at chance


def test_c2_best_alpha_and_the_gap_stays_inconclusive_and_names_what_was_chosen():
    claim = _claim(_claims(), "C2", dataset="MNIST and Fashion-MNIST (stand-in for SVHN and CIFAR-10)")
    assert claim.basis == "measurement" and claim.holds is None and claim.verdict == "inconclusive"
    assert "2 datasets give 2 gaps" in claim.reason and "α = 0.6" in claim.reason


def test_c5_is_decided_by_counts_and_a_student_larger_than_its_teacher_breaks_its_premise():
    smaller = _claim(_claims(costs=((272_186, 31_021_952), (89_610, 89_400))), "C5")
    assert smaller.basis == "measurement" and smaller.verdict == "supported"
    bigger = _claim(_claims(costs=((61_706, 416_520), (89_610, 89_400))), "C5")
    assert bigger.verdict == "untestable here"  # the book's choice of student, not the method: never contradicted
    assert "the claim's premise: a shallow student" in bigger.reason and "1.5×" in bigger.reason


def test_mnist_has_five_seeds_and_a_grid_beyond_the_first_pilots_choice():
    """The first MNIST pilots chose the top of (0.01, 0.03, 0.1) for CE and (0.001, 0.003, 0.01) for L2; the grid
    now goes two steps further, so a choice at its old top is no longer at its edge. Fashion-MNIST keeps its own."""
    from kdlib.chapters import noisy_teachers

    mnist, other = noisy_teachers.budget("cpu", "mnist"), noisy_teachers.budget("cpu", "fashion_mnist")
    assert mnist["seeds"] == (0, 1, 2, 3, 4) and other["seeds"] == (0, 1, 2)
    assert mnist["learning_rates"]["ce"][-3:] == (0.1, 0.3, 1.0)
    assert mnist["learning_rates"]["l2"][-3:] == (0.01, 0.03, 0.1)
    assert other["learning_rates"] == noisy_teachers.LEARNING_RATES
    assert sorted(noisy_teachers.lr_pilots("cpu", "mnist")["l2"]) == list(mnist["learning_rates"]["l2"])
    assert "per_dataset" not in noisy_teachers.budget("cpu")


def test_a_choice_at_an_end_of_its_grid_is_flagged():
    from kdlib.chapters import noisy_teachers

    result = {"pilots": {"ce": {0.01: {}, 0.1: {}, 1.0: {}}, "l2": {0.001: {}, 0.01: {}, 0.1: {}}},
              "learning_rates": {"ce": 0.1, "l2": 0.1}}
    assert noisy_teachers.grid_edges(result) == ["l2"]
    result["learning_rates"] = {"ce": 0.01, "l2": 0.01}
    assert noisy_teachers.grid_edges(result) == ["ce"]
