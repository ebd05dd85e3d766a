"""Yuan et al. 2020: label smoothing, the virtual teacher, Tf-KD_reg in both modes, checkpoint teachers, the chapter."""

import copy
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from kdlib import runs
from kdlib.methods.teacher_free import smoothed_cross_entropy, soften, virtual_teacher
from kdlib.methods import get_method, resolve_params
from kdlib.paths import results_dir
from kdlib.spec import RunSpec
from kdlib.optim import learning_rate
from kdlib.train import train

ROOT = Path(__file__).resolve().parent.parent
RNG = np.random.default_rng(0)
LOGITS = RNG.normal(size=(6, 10)) * 3
LABELS = np.array([0, 3, 9, 1, 1, 7])


def _log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _kl(target, log_q):  # per row: Σ t (log t − log q), with 0 log 0 = 0
    return np.array([sum(t * (math.log(t) - lq) for t, lq in zip(row_t, row_q) if t > 0)
                     for row_t, row_q in zip(target, log_q)])


def _ce(logits, labels):
    return -_log_softmax(logits)[np.arange(len(labels)), labels]


def _loss(name, **params):
    method = get_method(name)
    return method.loss(torch.tensor(LOGITS), torch.tensor(LABELS), **resolve_params(name, params, 10))


def _virtual(a, k=10):
    p = np.full((len(LABELS), k), (1 - a) / (k - 1))
    p[np.arange(len(LABELS)), LABELS] = a
    return p


def test_the_virtual_teacher_puts_a_on_the_true_class_and_sums_to_one():
    p = virtual_teacher(torch.tensor(LABELS), 10, 0.9)
    assert torch.allclose(p.sum(dim=1), torch.ones(6, dtype=p.dtype))
    assert (p[torch.arange(6), torch.tensor(LABELS)] == 0.9).all()
    assert torch.allclose(p[0, 1:], torch.full((9,), 0.1 / 9))


def test_the_softened_virtual_teacher_matches_a_hand_computed_value():
    """K = 10, a = 0.99, τ = 20: p^(1/τ) renormalised gives 0.99^0.05 / (0.99^0.05 + 9 · (0.01/9)^0.05)."""
    true = 0.99 ** 0.05
    other = (0.01 / 9) ** 0.05
    softened = soften(virtual_teacher(torch.tensor([4]), 10, 0.99), 20.0)[0]
    assert softened[4].item() == pytest.approx(true / (true + 9 * other), rel=1e-6)  # 0.1350
    assert softened[4].item() == pytest.approx(0.13497, abs=1e-4)
    assert softened.sum().item() == pytest.approx(1.0)
    assert softened[0].item() == pytest.approx(other / (true + 9 * other), rel=1e-6)


def test_tf_reg_matches_eq_9_computed_independently():
    alpha, tau, a = 0.3, 4.0, 0.95
    target = _virtual(a) ** (1 / tau)
    target /= target.sum(axis=1, keepdims=True)
    expected = np.mean((1 - alpha) * _ce(LOGITS, LABELS) + alpha * _kl(target, _log_softmax(LOGITS / tau)))
    got = _loss("tf_reg", alpha=alpha, temperature=tau, a=a)["loss"].item()
    assert got == pytest.approx(expected, rel=1e-9)


def test_tf_reg_official_matches_the_released_code_computed_independently():
    """KLDivLoss() of log_softmax(s) (no τ) against softmax(p^d / τ), averaged over batch × classes, × multiplier."""
    alpha, tau, multiplier = 0.2, 20.0, 50.0
    teacher = np.exp(_virtual(0.99) / tau)
    teacher /= teacher.sum(axis=1, keepdims=True)
    kl_mean = _kl(teacher, _log_softmax(LOGITS)).sum() / LOGITS.size
    expected = (1 - alpha) * _ce(LOGITS, LABELS).mean() + alpha * multiplier * kl_mean
    got = _loss("tf_reg", alpha=alpha, temperature=tau, official=1, multiplier=multiplier)["loss"].item()
    assert got == pytest.approx(expected, rel=1e-9)
    # the released virtual teacher is close to uniform: 1.0507 / 10.0512 on the true class at τ = 20, K = 10
    assert teacher[0, LABELS[0]] == pytest.approx(math.exp(0.99 / 20) / (math.exp(0.99 / 20) + 9 * math.exp(0.01 / 180)))
    assert teacher[0, LABELS[0]] < 0.105


def test_label_smoothing_matches_eq_3_and_the_released_code():
    eps = 0.2
    uniform = np.full_like(LOGITS, 0.1)
    paper = np.mean((1 - eps) * _ce(LOGITS, LABELS) + eps * _kl(uniform, _log_softmax(LOGITS)))
    assert _loss("lsr", epsilon=eps)["loss"].item() == pytest.approx(paper, rel=1e-9)
    smoothed = np.full_like(LOGITS, eps / 9)
    smoothed[np.arange(6), LABELS] = 1 - eps
    official = np.mean(-(smoothed * _log_softmax(LOGITS)).sum(axis=1))
    assert _loss("lsr", epsilon=eps, official=1)["loss"].item() == pytest.approx(official, rel=1e-9)


@pytest.mark.parametrize("name, params", [("tf_reg", {"alpha": 0.0}), ("tf_reg", {"alpha": 0.0, "official": 1}),
                                          ("lsr", {"epsilon": 0.0}), ("lsr", {"epsilon": 0.0, "official": 1})])
def test_with_no_weight_on_the_extra_term_every_variant_is_plain_cross_entropy(name, params):
    ce = F.cross_entropy(torch.tensor(LOGITS), torch.tensor(LABELS)).item()
    assert _loss(name, **params)["loss"].item() == pytest.approx(ce, rel=1e-12)


def test_kd_with_alpha_zero_is_plain_cross_entropy():
    ce = F.cross_entropy(torch.tensor(LOGITS), torch.tensor(LABELS)).item()
    got = get_method("kd").loss(torch.tensor(LOGITS), torch.tensor(LABELS), torch.tensor(LOGITS[::-1].copy()),
                                temperature=4.0, alpha=0.0)["loss"].item()
    assert got == pytest.approx(ce, rel=1e-12)


def test_kd_is_cross_entropy_with_the_teacher_as_smoothing_distribution():
    """C12 (τ = 1): (1 − α)·H(q, p) + α·KL(p_t ‖ p) = H((1 − α)q + α·p_t, p) − α·H(p_t); with a uniform teacher it
    is label smoothing (Eq. 3) exactly, and the gradients agree."""
    alpha = 0.4
    student = torch.tensor(LOGITS, requires_grad=True)
    labels = torch.tensor(LABELS)
    teacher = torch.tensor(RNG.normal(size=(6, 10)))
    p_t = F.softmax(teacher, dim=1)
    kd = get_method("kd").loss(student, labels, teacher, temperature=1.0, alpha=alpha)["loss"]
    smoothed = (1 - alpha) * F.one_hot(labels, 10).double() + alpha * p_t
    entropy = -(p_t * p_t.log()).sum(dim=1).mean()
    assert kd.item() == pytest.approx((smoothed_cross_entropy(student, smoothed) - alpha * entropy).item(), rel=1e-9)
    uniform_kd = get_method("kd").loss(student, labels, torch.zeros(6, 10, dtype=torch.double), temperature=1.0,
                                       alpha=alpha)["loss"]
    lsr = get_method("lsr").loss(student, labels, epsilon=alpha, official=0.0)["loss"]
    assert uniform_kd.item() == pytest.approx(lsr.item(), rel=1e-12)
    (g_kd,) = torch.autograd.grad(uniform_kd, student)
    (g_lsr,) = torch.autograd.grad(lsr, student)
    assert torch.allclose(g_kd, g_lsr)


@pytest.mark.parametrize("params, message", [
    ({"a": 0.1}, r"a \(the virtual teacher's probability of the true class\) must lie in \(0.1, 1\]"),
    ({"a": 1.2}, r"must lie in \(0.1, 1\]"),
    ({"temperature": 0}, r"temperature \(the softening temperature τ\) must be > 0, got 0"),
    ({"alpha": 1.5}, r"alpha .* must lie in \[0, 1\]"),
    ({"official": 2}, r"official \(.*\) is a flag: 0 \(off\) or 1 \(on\), got 2"),
    ({"multiplier": 50}, "multiplier exists only in the released code"),
    ({"tau": 20}, "has no parameter tau"),
])
def test_bad_tf_reg_parameters_are_refused_before_training(params, message):
    with pytest.raises(ValueError, match=message):
        RunSpec("fashion_mnist", "mlp_2x100", method="tf_reg", method_params=params)


def test_a_depends_on_the_number_of_classes():
    RunSpec("cifar100", "mlp_2x100", method="tf_reg", method_params={"a": 0.05})  # 0.05 > 1/100: fine
    with pytest.raises(ValueError, match=r"\(0.1, 1\]"):
        RunSpec("cifar10", "mlp_2x100", method="tf_reg", method_params={"a": 0.05})
    with pytest.raises(ValueError, match=r"epsilon .* must lie in \[0, 1\]"):
        RunSpec("mnist", "mlp_2x100", method="lsr", method_params={"epsilon": -0.1})


def test_the_cli_refuses_a_bad_virtual_teacher_and_writes_nothing():
    result = subprocess.run([sys.executable, "-m", "kdlib", "run", "--dataset", "mnist", "--model", "mlp_2x100",
                             "--method", "tf_reg", "--param", "a=0.05"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    assert "must lie in (0.1, 1]" in result.stderr
    assert not results_dir().exists() or not list(results_dir().iterdir())


def test_step5_divides_by_five_at_30_60_and_80_percent():
    lr = [learning_rate("step5", 0.1, p) for p in (0.0, 0.299, 0.3, 0.6, 0.8, 0.99)]
    assert lr == pytest.approx([0.1, 0.1, 0.02, 0.004, 0.0008, 0.0008])


def test_a_stopped_run_is_the_checkpoint_of_the_full_run(tiny):
    """stop_step = one epoch of a 3-epoch run gives exactly the weights the full run has after that epoch."""
    full = RunSpec("mnist", "mlp_2x100", epochs=3, batch_size=32, val_size=40)
    steps = math.ceil((len(tiny.train_images) - 40) / 32)
    saved = []
    train(full, tiny, progress="off", checkpoint=lambda state: saved.append(copy.deepcopy(state)))
    stopped = train(full.replace(stop_step=steps), tiny, progress="off")
    assert len(stopped.history) == 1 and stopped.history[-1]["step"] == steps
    for name, value in stopped.model.state_dict().items():
        assert torch.equal(value, saved[0]["phases"]["model"]["module"][name].cpu()), name
    mid = train(full.replace(stop_step=steps + 2), tiny, progress="off")
    assert mid.history[-1]["step"] == steps + 2 and mid.history[-1]["epoch"] == 2
    with pytest.raises(ValueError, match="stop_step=100 is beyond the run's 21 steps"):
        train(full.replace(stop_step=100), tiny, progress="off")


def test_stop_step_is_part_of_the_id_only_when_set():
    spec = RunSpec("mnist", "lenet5")
    assert "stop_step" not in spec.to_dict()
    stopped = spec.replace(stop_step=30)
    assert stopped.id != spec.id and RunSpec.from_dict(stopped.to_dict()) == stopped
    with pytest.raises(ValueError, match="stop_step must be a positive integer"):
        spec.replace(stop_step=0)


def _chosen_at(index: int, profile: str = "cpu") -> dict:
    """Every family's stage-1 run at position ``index`` of its grid, as if validation had chosen it."""
    from kdlib.chapters import teacher_free

    return teacher_free.chosen_specs(profile, {family: list(cells)[index]
                                               for family, cells in teacher_free.grids(profile).items()})


def _first_stage(profile: str) -> list:
    """What the plan trains before its one choice, with nothing recorded: the grids and the teachers beside them."""
    from kdlib.chapters import Choose, Missing, teacher_free

    with pytest.raises(Missing) as missing:
        teacher_free.plan(profile, Choose(lambda spec: None))
    assert missing.value.names == list(teacher_free.grids(profile))  # every grid trains together
    return missing.value.specs


def test_the_plan_chooses_on_validation_never_on_test_and_reads_records_only_through_choose():
    """Hand-made records where validation prefers a different cell in each grid and test the opposite: the plan reads
    the grids' records and no other, picks each grid's preferred cell, and every row takes the setting chosen for its
    own student (issue 27: KD's (α, τ) from the student's KD grid for normal KD, Re-KD and De-KD; Tf-KD_self,
    Tf-KD_reg and LSR from the student's grid of that method), never another student's; a grid with a missing
    record stops the plan at the choice, naming that grid."""
    from kdlib.chapters import Choose, Missing, teacher_free

    grids = teacher_free.grids("cpu")
    assert list(grids) == ["KD (MLP)", "Tf-KD_self (MLP)", "Tf-KD_reg (MLP)", "LSR (MLP)", "KD (LeNet-5)",
                           "Tf-KD_self (LeNet-5)", "Tf-KD_reg (LeNet-5)", "LSR (LeNet-5)", "KD (small CNN)"]
    # each student prefers another cell, so a row that took another student's setting would show
    preferred = {name: {"(MLP)": 1, "(LeNet-5)": 2, "(small CNN)": 3}[name[name.index("("):]] for name in grids}
    where = {spec.id: (name, index) for name, cells in grids.items() for index, spec in enumerate(cells.values())}
    asked = []

    def read(spec):
        asked.append(spec.id)
        name, index = where[spec.id]
        hit = index == preferred[name]
        return {"metrics": {"val_acc": 0.9 if hit else 0.5, "test_acc": 0.5 if hit else 0.9}}

    planned = teacher_free.plan("cpu", Choose(read))
    assert planned["chosen"] == {name: list(cells)[preferred[name]] for name, cells in grids.items()}
    assert sorted(asked) == sorted(where)
    chosen = teacher_free.chosen_specs("cpu", planned["chosen"])
    assert [row for row, _ in planned["rows"]] == teacher_free.table_rows("cpu", chosen)
    assert planned["controls"] == teacher_free.control_runs("cpu", chosen)
    names = {"mlp_2x100": "MLP", "lenet5": "LeNet-5", "small_cnn": "small CNN"}
    grid_of = {"normal KD": "KD", "Re-KD": "KD", "De-KD": "KD", "De-KD curve": "KD", "Tf-KD_self": "Tf-KD_self",
               "Tf-KD_reg": "Tf-KD_reg", "LSR": "LSR"}
    checked = set()
    for row, specs in planned["rows"]:
        if row.method in grid_of:
            name = f"{grid_of[row.method]} ({names[row.model]})"
            assert all(spec.method_params == chosen[name].method_params for spec in specs), (row, name)
            checked.add(name)
    assert checked == set(grids)  # every grid sets some row
    for method in ("KD", "Tf-KD_self", "Tf-KD_reg", "LSR"):
        assert chosen[f"{method} (MLP)"].method_params != chosen[f"{method} (LeNet-5)"].method_params
    assert len({chosen[name].method_params for name in ("KD (MLP)", "KD (LeNet-5)", "KD (small CNN)")}) == 3
    teachers = {name: {spec.teacher for spec in cells.values()} for name, cells in grids.items()}
    assert teachers["KD (MLP)"] == {teacher_free.teacher("cpu", "lenet5")}  # each KD grid: the student's teacher
    assert teachers["KD (LeNet-5)"] == {teacher_free.teacher("cpu", "small_cnn")}
    assert teachers["KD (small CNN)"] == {teacher_free.teacher("cpu", "mlp_2x100")}
    assert teachers["Tf-KD_self (LeNet-5)"] == {teacher_free.teacher("cpu", "lenet5")}
    rows = {(row.method, row.model, row.teacher): specs for row, specs in planned["rows"]}
    assert rows[("Re-KD", "lenet5", "mlp_2x100")][0].method_params == chosen["KD (LeNet-5)"].method_params
    kd_control = planned["controls"]["the chapter's setting"]["KD, book's term"][0]
    assert kd_control.method_params == chosen["KD (MLP)"].method_params
    carried = {(row.method, row.model, row.teacher): row for row, _ in planned["carried_over"]}
    assert set(carried) == {key for key in rows if key[1] != "mlp_2x100" and key[0] in grid_of}  # every changed row
    for (method, model, _), row in carried.items():  # the MLP's setting of that method, on another student
        expected = chosen[f"{grid_of[method]} (MLP)"].method_params
        assert {spec.method_params for spec in row.specs} == {expected} and row.specs[0].model == model

    unrecorded = next(iter(grids["LSR (LeNet-5)"].values()))
    with pytest.raises(Missing) as missing:
        teacher_free.plan("cpu", Choose(lambda spec: None if spec == unrecorded else read(spec)))
    assert missing.value.names == ["LSR (LeNet-5)"] and unrecorded in missing.value.specs
    with pytest.raises(FileNotFoundError, match="no run record"):  # the store's read: nothing trains unasked
        teacher_free.results("smoke", train_missing=False)


def test_the_derived_stages_list_grids_and_teachers_then_leave_the_rows_undetermined(monkeypatch):
    from kdlib.chapters import teacher_free
    from kdlib.plan import plan_stages as dry_run

    monkeypatch.setattr(runs, "current_record", lambda spec: None)  # nothing trained yet
    found = dry_run(teacher_free.stages("cpu"), records=[], has_record=lambda spec: False,
                    in_cache=lambda spec: False)
    assert set(found.runs["id"]) == {spec.id for spec in _first_stage("cpu")} and found.undetermined == [2]


def test_the_chapter_declares_every_role_in_every_profile():
    from kdlib.chapters import teacher_free

    for profile in ("smoke", "cpu", "paper"):
        b = teacher_free.budget(profile)
        first = _first_stage(profile)
        for stronger, weaker in teacher_free.pairs(profile):  # Re-KD: the weaker model's run teaches
            assert teacher_free.teacher(profile, weaker) in first and teacher_free.teacher(profile, stronger) in first
        poor = teacher_free.poor_teacher(profile, b["models"][2])
        assert poor in first and poor.stop_step == b["poor_teacher_step"] and poor.seed == 0
    cpu = teacher_free.budget("cpu")
    assert len(cpu["seeds"]) >= 3 and cpu["dataset"] == "fashion_mnist"
    assert teacher_free.budget("paper")["dataset"] == "cifar100"
    assert teacher_free.budget("paper")["schedule"] == "step5" and teacher_free.budget("paper")["epochs"] == 200



# ---------------------------------------------------------------------------------------------------------------
# The chapter's claims (C10–C13) on synthetic records: every verdict they can reach and every precondition failure

LEVEL = {"mlp_2x100": 88.0, "lenet5": 90.0, "small_cnn": 91.0}  # accuracy (%) of each model trained alone
CHECKPOINTS = {10: 10.5, 30: 10.5, 100: 48.0, 300: 80.0, 1000: 87.4}  # validation accuracy of LeNet-5's checkpoints


def _synthetic_record(spec, accuracy, val=None, train_acc=0.9):
    return {"id": spec.id, "spec": spec.to_dict(), "history": [{"epoch": spec.epochs, "step": 3440,
                                                               "train_acc": train_acc}],
            "metrics": {"test_acc": accuracy / 100, "val_acc": (accuracy if val is None else val) / 100}}


def _tf_results(gains=None, noise=0.05, teachers=None, checkpoints=None, poor=75.0):
    """Records for every row of the cpu profile's tables: each row's accuracy is its model's LEVEL plus the gain of
    its method (``gains``: method → points, or a function of the row), with a per-row jitter of ``noise`` points
    (or of ``noise[method]``, 0.05 for the methods it does not name)."""
    import zlib

    from kdlib.chapters import teacher_free

    gains = {"normal KD": 2.0, "Re-KD": 1.0, "De-KD": 1.0, "De-KD curve": 1.0, "Tf-KD_self": 2.0, "Tf-KD_reg": 2.0,
             "LSR": 0.5, **(gains or {})}
    rows = []
    for row in teacher_free.table_rows("cpu", _chosen_at(0)):
        gain = gains.get(row.method, 0.0)
        gain = gain(row) if callable(gain) else gain
        jitter = np.random.default_rng(zlib.crc32(f"{row.method}{row.model}{row.teacher}".encode())).normal(size=3)
        scale = noise.get(row.method, 0.05) if isinstance(noise, dict) else noise
        rows.append((row, [_synthetic_record(spec, LEVEL[row.model] + gain + scale * j)
                           for spec, j in zip(row.specs, jitter)]))
    levels = {**LEVEL, **(teachers or {})}
    checkpoints = {**CHECKPOINTS, **(checkpoints or {})}
    models = teacher_free.budget("cpu")["models"]
    return {"profile": "cpu",
            "teachers": {m: _synthetic_record(teacher_free.teacher("cpu", m), levels[m]) for m in models},
            "checkpoints": {step: _synthetic_record(teacher_free.poor_teacher("cpu", models[1], step), val, val)
                            for step, val in checkpoints.items()},
            "poor_teacher": _synthetic_record(teacher_free.poor_teacher("cpu", models[2]), poor, poor),
            "rows": rows}


def _tf_claims(results):
    from kdlib.chapters import teacher_free

    found = teacher_free.claims(results)
    named = {"C10": found[0], "C11": found[1], "C12": found[2]}
    named.update({f"C13 {claim.statement.split(' ')[0]} {claim.statement.split(' ')[1]}": claim
                  for claim in found[3:]})
    assert [claim.id for claim in found] == ["C10", "C11", "C12", "C13", "C13", "C13", "C13"]
    assert all(claim.chapter == "teacher_free" for claim in found)
    assert {claim.setting.dataset for claim in found if claim.basis == "test"} == {
        "Fashion-MNIST (stand-in for CIFAR-100)"}
    return named


def test_when_kd_works_every_teacher_free_claim_can_be_supported_or_equivalent():
    found = _tf_claims(_tf_results())
    assert found["C10"].verdict == "supported" and len(found["C10"].comparisons) == 3
    assert found["C11"].verdict == "supported"
    assert found["C13 Tf-KD_self improves"].verdict == "supported"
    assert found["C13 Tf-KD_self matches"].verdict == "equivalent"
    assert found["C13 Tf-KD_reg matches"].verdict == "equivalent"
    assert "within ±0.5 points (TOST)" in found["C13 Tf-KD_reg matches"].reason
    assert found["C13 Tf-KD_reg beats"].verdict == "supported"
    assert all(c.test == "paired" for claim in found.values() for c in claim.comparisons)
    share = found["C10"].setting.budget_share
    assert share == pytest.approx(3440 / (200 * 391)) and "78,200 steps" in found["C10"].setting.budget


def test_the_paper_going_the_other_way_is_contradicted():
    found = _tf_claims(_tf_results(gains={"Re-KD": -1.0, "De-KD": -1.5, "De-KD curve": -1.5,
                                                       "Tf-KD_reg": 0.0, "LSR": 1.0}))
    assert found["C10"].verdict == "contradicted" and "opposite direction" in found["C10"].reason
    assert found["C11"].verdict == "contradicted"
    assert found["C13 Tf-KD_reg matches"].verdict == "contradicted"  # 2 points below KD: beyond the ±0.5 margin
    assert "beyond the margin" in found["C13 Tf-KD_reg matches"].reason
    assert found["C13 Tf-KD_reg beats"].verdict == "contradicted"


def test_noisy_seeds_leave_the_claims_inconclusive_with_their_detectable_effect():
    found = _tf_claims(_tf_results(gains={"Re-KD": 0.0, "Tf-KD_reg": 2.3, "LSR": 2.0},
                                   noise={"Re-KD": 0.6, "Tf-KD_reg": 0.6, "LSR": 0.6}))
    assert not found["C10"].failed_preconditions and not found["C13 Tf-KD_reg matches"].failed_preconditions
    assert found["C10"].verdict == "inconclusive" and "MDE" in found["C10"].reason
    assert found["C13 Tf-KD_reg beats"].verdict == "inconclusive"
    assert found["C13 Tf-KD_reg matches"].verdict == "inconclusive"
    assert "neither within ±0.5 points nor beyond it" in found["C13 Tf-KD_reg matches"].reason


def test_claims_resting_on_kd_are_untestable_where_normal_kd_does_not_beat_the_student():
    found = _tf_claims(_tf_results(gains={"normal KD": 0.0}))
    for name in ("C10", "C11", "C13 Tf-KD_self matches", "C13 Tf-KD_reg matches"):
        assert found[name].verdict == "untestable here", name
        assert found[name].reason.startswith("precondition failed: normal KD from the trained ")
        assert "normal KD from the trained small CNN beats LeNet-5 alone" in found[name].reason
    # the claims that do not rest on KD are still judged
    assert found["C13 Tf-KD_self improves"].verdict == "supported"
    assert found["C13 Tf-KD_reg beats"].verdict == "supported"
    assert found["C12"].verdict == "supported"


def test_one_pair_without_a_kd_gain_is_enough_to_make_re_kd_untestable():
    found = _tf_claims(_tf_results(gains={
        "normal KD": lambda row: 0.0 if (row.model, row.teacher) == ("lenet5", "small_cnn") else 2.0}))
    assert found["C10"].verdict == "untestable here"
    assert found["C10"].reason.count("normal KD from the trained") == 1
    assert "beats LeNet-5 alone" in found["C10"].reason


def test_re_kd_is_untestable_when_its_teacher_is_not_the_weaker_model_or_is_untrained(monkeypatch):
    levels = dict(LEVEL)
    monkeypatch.setitem(LEVEL, "lenet5", levels["small_cnn"])  # LeNet-5 as accurate as the small CNN
    found = _tf_claims(_tf_results())
    assert found["C10"].verdict == "untestable here"
    assert "small CNN alone beats LeNet-5 alone (the teacher is the weaker model)" in found["C10"].reason
    monkeypatch.setitem(LEVEL, "lenet5", levels["lenet5"])
    found = _tf_claims(_tf_results(teachers={"mlp_2x100": 10.2}))
    assert found["C10"].verdict == "untestable here"
    assert "the MLP teacher is trained (validation accuracy ≥ 1.5 × chance = 15 %)" in found["C10"].reason


def test_tf_kd_self_is_untestable_when_its_own_copy_is_at_chance():
    found = _tf_claims(_tf_results(teachers={"lenet5": 10.0}))
    assert found["C13 Tf-KD_self improves"].verdict == "untestable here"
    assert "LeNet-5's own pre-trained copy is trained" in found["C13 Tf-KD_self improves"].reason


def test_chance_level_checkpoints_are_label_smoothing_and_stay_out_of_de_kd():
    """A checkpoint at chance predicts a near-uniform distribution: distilling from it is LSR (C12), not De-KD; one
    close to the student is not poorly trained. Neither is a comparison of C11, and both are named."""
    from kdlib.chapters import teacher_free

    # chance-level teachers would pull C11 down; they must not decide it
    results = _tf_results(gains={
        "De-KD curve": lambda row: -5.0 if row.specs[0].teacher.stop_step in (10, 30, 1000) else 1.0})
    roles = {(t["row"].method, t["step"], t["row"].model): t["role"] for t in teacher_free.de_kd_teachers(results)}
    assert roles[("De-KD curve", 10, "mlp_2x100")] == roles[("De-KD curve", 30, "mlp_2x100")] == "chance level"
    assert roles[("De-KD curve", 1000, "mlp_2x100")] == "not poorly trained"  # errs 12.6 %, the student 12 %
    assert roles[("De-KD curve", 100, "mlp_2x100")] == roles[("De-KD curve", 300, "mlp_2x100")] == "poorly trained"
    assert roles[("De-KD", 30, "lenet5")] == "poorly trained"
    found = _tf_claims(results)
    labels = [c.label for c in found["C11"].comparisons]
    assert len(labels) == 4 and not any("after 10 steps" in label or "after 1000 steps" in label for label in labels)
    assert found["C11"].verdict == "supported"
    assert [role for _, role in found["C11"].extra["excluded"]] == ["chance level", "chance level",
                                                                    "not poorly trained"]


def test_de_kd_is_untestable_when_every_teacher_is_at_chance():
    found = _tf_claims(_tf_results(checkpoints={100: 10.0, 300: 11.0, 1000: 12.0}, poor=10.0))
    assert found["C11"].verdict == "untestable here"
    assert "a teacher is poorly trained but above chance" in found["C11"].reason


def test_c12_is_a_derivation_checked_to_rounding():
    from kdlib.chapters import teacher_free

    gaps = teacher_free.identity_gaps()
    assert set(gaps) == {"KD as smoothed-label cross-entropy", "KD with a uniform teacher − LSR", "gradients"}
    assert max(gaps.values()) < 1e-12
    assert max(teacher_free.identity_gaps(n_classes=100, alphas=(0.3,)).values()) < 1e-12


def test_the_teacher_free_claims_are_a_pure_function_of_the_records():
    results = _tf_results()
    from kdlib.chapters import teacher_free

    first, again = teacher_free.claims(results), teacher_free.claims(results)
    assert [(c.verdict, c.reason) for c in first] == [(c.verdict, c.reason) for c in again]
    assert not results_dir().exists()  # nothing was trained or written


def test_each_arm_of_the_kd_control_study_changes_one_thing():
    from kdlib.chapters import teacher_free

    last = _chosen_at(-1)
    arms = teacher_free.control_runs("cpu", last)
    setting = arms["the chapter's setting"]
    rows = {(row.method, row.model, row.teacher): row.specs for row in teacher_free.table_rows("cpu", last)}
    assert tuple(setting["KD, book's term"]) == rows[("normal KD", "mlp_2x100", "lenet5")]
    assert tuple(setting["student alone"]) == rows[("baseline", "mlp_2x100", "–")]
    assert tuple(setting["teacher alone"]) == rows[("baseline", "lenet5", "–")]
    book, code = setting["KD, book's term"][0], setting["KD, code's term"][0]
    assert dict(book.method_params) == {"alpha": 0.9, "temperature": 20.0}  # the grid's last cell, as chosen
    assert dict(code.method_params) == {"alpha": 0.9, "temperature": 20.0, "scale": pytest.approx(1 / 10)}
    longer = arms["32 epochs"]
    for row in ("student alone", "teacher alone", "KD, book's term", "KD, code's term"):
        for ours, base in zip(longer[row], setting[row]):
            a, b = ours.to_dict(), base.to_dict()
            assert {key for key in a if a[key] != b[key]} == ({"epochs", "teacher"} if "KD" in row else {"epochs"})
            assert a["epochs"] == 32
    assert longer["KD, code's term"][2].teacher == teacher_free.teacher("cpu", "lenet5").replace(epochs=32)
    for lr in (0.02, 0.1):
        assert [s.replace(lr=0.05) for s in arms[f"lr {lr:g}"]["KD, book's term"]] == setting["KD, book's term"]
        assert arms[f"lr {lr:g}"]["teacher alone"] == setting["teacher alone"]
