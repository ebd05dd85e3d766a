"""The run store: ids, records, atomic writes, caches rebuilt deterministically, and reproduce."""

import json

import pytest
import torch

from kdlib import runs, verify
from kdlib.data import split_indices
from kdlib.paths import results_dir
from kdlib.spec import RunSpec, per_seed


def small(**changes) -> RunSpec:
    return RunSpec("mnist", "mlp_2x800", epochs=2, lr=0.05, batch_size=32, val_size=40).replace(**changes)


def test_id_is_stable_and_depends_on_every_field():
    assert small().id == small().id
    assert small(seed=1).id != small().id
    kd = small(method="kd", teacher=small(), method_params={"temperature": 4})
    assert kd.id != small(method="kd", teacher=small(seed=1), method_params={"temperature": 4}).id
    # parameter order does not matter; the defaults are not folded in, so the spec says what was asked
    assert small(method="kd", teacher=small(), method_params={"alpha": 0.5, "temperature": 4}).id == \
        small(method="kd", teacher=small(), method_params={"temperature": 4.0, "alpha": 0.5}).id


def test_train_size_leaves_validation_and_test_alone():
    """The protocol of 2026-12-07: validation is carved before the training set is cut, so every training size is
    validated on the same images, and test is always the whole test set (``subset`` cut both)."""
    full_train, full_val = split_indices(60_000, 5000, None)
    for size in (1000, 5000):
        train, val = split_indices(60_000, 5000, None, size)
        assert torch.equal(val, full_val) and len(train) == size
        assert not set(train.tolist()) & set(val.tolist()) and set(train.tolist()) <= set(full_train.tolist())
    assert set(split_indices(60_000, 5000, None, 1000)[0].tolist()) <= set(split_indices(60_000, 5000, None,
                                                                                         5000)[0].tolist())
    with pytest.raises(ValueError, match="train_size=56000 is more than the 55000 training images left"):
        split_indices(60_000, 5000, None, 56_000)
    assert "train_size" not in small().to_dict() and small().id == small(train_size=None).id  # old ids unchanged
    assert small(train_size=100).id != small().id
    assert RunSpec.from_dict(small(train_size=100).to_dict()) == small(train_size=100)
    with pytest.raises(ValueError, match="train_size and subset are two protocols"):
        small(train_size=100, subset=100)
    with pytest.raises(ValueError, match="give the teacher at least the student's train_size"):
        small(train_size=200, method="kd", teacher=small(train_size=100), method_params={"temperature": 4})


def test_a_run_with_a_train_size_is_tested_on_the_whole_test_set(tiny):
    record = runs.get_or_train(small(train_size=100, val_size=40, epochs=1), progress="off")
    cut = runs.get_or_train(small(subset=50, val_size=40, epochs=1), progress="off")
    assert record["metrics"]["n_test"] == len(tiny.test_images) == 80
    assert cut["metrics"]["n_test"] == 50  # the first edition's subset cut the test set to its first 50 images


def test_spec_roundtrips_through_json():
    kd = small(method="kd", teacher=small(augment="shift2"), method_params={"temperature": 20})
    again = RunSpec.from_dict(json.loads(json.dumps(kd.to_dict())))
    assert again == kd and again.id == kd.id


@pytest.mark.parametrize("changes, message", [
    ({"model": "resnet1000"}, "unknown model 'resnet1000'; choose one of: .*lenet5"),
    ({"dataset": "imagenet"}, "unknown dataset 'imagenet'"),
    ({"method": "kd"}, "method 'kd' needs a teacher spec"),
    ({"epochs": 0}, "epochs must be an integer >= 1, got 0"),
    ({"lr": -1.0}, "lr must be a positive number"),
    ({"schedule": "linear"}, "unknown schedule 'linear'; choose one of: cosine, warmup_cosine, constant, step"),
    ({"method_params": {"temperature": 4}}, "method 'ce' has no parameter temperature"),
])
def test_bad_specs_are_rejected(changes, message):
    with pytest.raises(ValueError, match=message):
        small(**changes)


def test_teacher_on_another_split_is_rejected():
    with pytest.raises(ValueError, match="same dataset, subset and validation split"):
        small(method="kd", teacher=small(val_size=10))


def test_unknown_field_in_a_record_is_named():
    with pytest.raises(ValueError, match="unknown RunSpec field\\(s\\) colour"):
        RunSpec.from_dict({**small().to_dict(), "colour": "red"})


def test_get_or_train_writes_a_full_record_then_loads_it(tiny, monkeypatch):
    record = runs.get_or_train(small(), progress="off")
    path = results_dir() / f"{small().id}.json"
    stored = json.loads(path.read_text())
    assert stored == json.loads(json.dumps(record))
    assert set(stored) == {"id", "spec", "metrics", "history", "provenance"}
    assert {"git_commit", "git_dirty", "kdlib", "torch", "torchvision", "device", "threads", "wall_time_s",
            "date"} <= set(stored["provenance"])
    assert len(stored["history"]) == 2

    def must_not_train(*args, **kwargs):
        raise AssertionError("a stored record was re-trained")

    monkeypatch.setattr("kdlib.train.train", must_not_train)
    assert runs.get_or_train(small())["metrics"] == stored["metrics"]


def test_missing_record_without_training_is_an_error(tiny):
    with pytest.raises(FileNotFoundError, match="no run record .* train_missing=True"):
        runs.get_or_train(small(), train_missing=False)


def test_a_failed_write_leaves_no_file(tmp_path, monkeypatch):
    def broken_dump(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(runs.json, "dumps", broken_dump)
    with pytest.raises(OSError, match="disk full"):
        runs.write_json_atomic(tmp_path / "r.json", {"a": 1})
    assert list(tmp_path.iterdir()) == []


def test_teacher_logits_are_rebuilt_identically_when_the_cache_is_gone(tiny):
    teacher = small()
    student = small(method="kd", teacher=teacher, method_params={"temperature": 4})
    first = runs.get_or_train(student, progress="off")
    logits = runs.teacher_train_logits(teacher)
    assert logits.shape == (len(tiny.train_images), 3)
    train_idx, val_idx = split_indices(len(tiny.train_images), 40, None)
    assert torch.isfinite(logits[train_idx]).all() and torch.isnan(logits[val_idx]).all()
    runs.logits_path(teacher).unlink()
    runs.checkpoint_path(teacher).unlink()
    torch.testing.assert_close(runs.teacher_train_logits(teacher, progress="off"), logits, rtol=0, atol=0,
                               equal_nan=True)
    assert first["spec"]["teacher"] == teacher.to_dict()


def test_reproduce_matches_the_record(tiny):
    record = runs.get_or_train(small(augment="shift2"), progress="off")
    comparison = verify.reproduce(record["id"], progress="off")
    assert all(row["difference"] == 0 for row in comparison.values())
    with pytest.raises(FileNotFoundError, match="kdlib list"):
        verify.reproduce("0123456789ab")


def test_a_broken_record_is_named(tiny):
    path = results_dir() / f"{small().id}.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(ValueError, match=f"{small().id}.json is not valid JSON .* delete it"):
        runs.get_or_train(small())


def test_a_corrupted_checkpoint_is_rebuilt_not_trusted(tiny):
    teacher = small()
    runs.get_or_train(teacher, progress="off")
    good = runs.load_model(teacher).state_dict()
    runs.checkpoint_path(teacher).write_bytes(b"not a checkpoint")
    runs.logits_path(teacher).parent.mkdir(parents=True, exist_ok=True)
    runs.logits_path(teacher).write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="is unreadable"):
        rebuilt = runs.load_model(teacher, progress="off").state_dict()
    assert all(torch.equal(good[k], rebuilt[k]) for k in good)
    with pytest.warns(UserWarning, match="teacher logits .* are unreadable"):
        assert runs.teacher_train_logits(teacher, progress="off").shape == (len(tiny.train_images), 3)


def test_a_rebuild_that_differs_from_its_record_is_named_in_one_line_and_logs_nothing(tiny, monkeypatch, capsys):
    """Another processor gives other last digits: the rebuilt model is listed (id, metric rebuilt and recorded) for
    the page's one-line note, and its training prints no per-epoch log into the page."""
    teacher = small()
    record = runs.get_or_train(teacher, progress="off")
    assert runs.rebuilt_note() == ""
    record["metrics"]["test_acc"] -= 0.0123  # as if recorded on another processor
    runs.record_path(teacher.id).write_text(json.dumps(record))
    runs.checkpoint_path(teacher).unlink()
    capsys.readouterr()
    with pytest.warns(runs.RebuiltModelWarning, match=f"re-trained {teacher.id} reaches test_acc"):
        runs.load_model(teacher, progress="line")  # what a chapter page passes
    assert "epoch" not in capsys.readouterr().err  # not a tty: the rebuild is silent
    note = runs.rebuilt_note()
    assert f"{teacher.id} ({teacher.model}: test_acc {record['metrics']['test_acc'] + 0.0123:.4f} rebuilt, " \
           f"{record['metrics']['test_acc']:.4f} recorded)" in note
    assert note.count("recorded)") == 1


def test_reproduce_and_rebuilds_use_the_record_thread_count(tiny, monkeypatch):
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        record = runs.get_or_train(small(), progress="off")
    finally:
        torch.set_num_threads(previous)
    assert record["provenance"]["threads"] == 1
    import kdlib.train
    real_train, seen = kdlib.train.train, []

    def spying_train(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real_train(*args, **kwargs)

    monkeypatch.setattr(kdlib.train, "train", spying_train)
    torch.set_num_threads(2)
    try:
        verify.reproduce(record["id"], progress="off")
        assert seen == [1] and torch.get_num_threads() == 2
        runs.checkpoint_path(small()).unlink()  # a teacher rebuilt from its record: same threads, same weights
        runs.load_model(small())
        assert seen == [1, 1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


def test_smoke_records_go_to_the_cache_never_beside_the_published_ones(monkeypatch, tmp_path):
    """A notebook or CLI run at the smoke profile, with no store named, writes its meaningless records under the
    cache; the cpu profile (and an explicitly named store) keep results/."""
    from kdlib import paths
    from kdlib.book import configure

    monkeypatch.delenv("KDLIB_RESULTS")
    published = paths.project_root() / "results"
    namespace = {"profile": "smoke", "train_missing": True, "device": None}
    configure(namespace, set(), {"profile": ("smoke", "cpu"), "train_missing": (True,), "device": (None,)})
    assert paths.results_dir() == tmp_path / "cache" / "smoke-results"
    configure({**namespace, "profile": "cpu"}, set(), {"profile": ("smoke", "cpu"), "train_missing": (True,),
                                                       "device": (None,)})
    assert paths.results_dir() == published
    monkeypatch.setenv("KDLIB_RESULTS", str(tmp_path / "mine"))
    paths.use_profile("smoke")
    assert paths.results_dir() == tmp_path / "mine"  # a store the user named wins


@pytest.mark.data("fashion_mnist")
@pytest.mark.process
def test_the_cli_trains_a_smoke_chapter_into_the_cache(monkeypatch, tmp_path):
    import os
    import subprocess
    import sys

    from kdlib import paths

    published = sorted((paths.project_root() / "results").glob("*.json"))
    env = {key: value for key, value in os.environ.items() if key != "KDLIB_RESULTS"}
    result = subprocess.run([sys.executable, "-m", "kdlib", "--threads", "1", "chapter", "rocket_launching",
                             "--profile", "smoke", "--workers", "2"], env=env, capture_output=True, text=True,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    trained = {path.stem for path in (tmp_path / "cache" / "smoke-results").glob("*.json")}
    from kdlib.chapters import rocket_launching
    monkeypatch.delenv("KDLIB_RESULTS")
    paths.use_profile("smoke")  # read the store the CLI wrote
    wanted = {spec.id for stage in rocket_launching.stages("smoke") for spec in stage()}
    assert wanted and wanted <= trained  # every stage, the second listed from the first one's records
    assert sorted((paths.project_root() / "results").glob("*.json")) == published
    assert list(tmp_path.glob("*")) == [tmp_path / "cache"]  # nothing written in the working directory


def test_records_are_written_with_the_mode_the_umask_gives(tmp_path):
    """mkstemp's private 0600 would hide records from the rest of a group sharing the store."""
    import os
    import stat

    previous = os.umask(0o002)
    try:
        runs.write_json_atomic(tmp_path / "shared.json", {"a": 1})
        os.umask(0o077)
        runs.write_json_atomic(tmp_path / "private.json", {"a": 1})
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "shared.json").stat().st_mode) == 0o664
    assert stat.S_IMODE((tmp_path / "private.json").stat().st_mode) == 0o600
    assert json.loads((tmp_path / "shared.json").read_text()) == {"a": 1}
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


def test_per_seed_teachers_pair_student_seed_s_with_teacher_seed_s():
    student = small(method="kd", teacher=small(), method_params={"temperature": 4})
    students = per_seed(student, small(epochs=3), [0, 1, 2])
    assert [(s.seed, s.teacher.seed) for s in students] == [(0, 0), (1, 1), (2, 2)]
    assert {s.teacher.epochs for s in students} == {3} and len({s.teacher.id for s in students}) == 3


def test_an_evaluation_cadence_reads_test_once_and_changes_no_training(tiny):
    """``eval_every=2`` over 5 epochs validates after epochs 2, 4 and 5 and tests after epoch 5 only; evaluation
    draws nothing, so the trained run is the one an every-epoch run gives."""
    from kdlib.train import train

    every = train(small(epochs=5), tiny, progress="off")
    cadence = train(small(epochs=5, eval_every=2), tiny, progress="off")
    assert [row["epoch"] for row in cadence.history if "val_acc" in row] == [2, 4, 5]
    assert [row["epoch"] for row in cadence.history if "test_acc" in row] == [5]
    assert all(torch.equal(value, cadence.model.state_dict()[name]) for name, value in every.model.state_dict().items())
    assert cadence.metrics["test_acc"] == every.metrics["test_acc"] and cadence.metrics["val_acc"] == every.metrics["val_acc"]
    best = cadence.metrics["best_val_epoch"]
    assert cadence.metrics["test_acc_at_best_val"] == (cadence.metrics["test_acc"] if best == 5 else None)
    assert "eval_every" not in small().to_dict() and small(eval_every=2).id != small().id


def test_a_taught_run_records_its_agreement_and_kl_with_its_teacher_on_test(tiny):
    """Fidelity beside accuracy (Stanton et al. 2021), recomputed here in numpy from both stored models."""
    import numpy as np

    from kdlib.train import pick_device, predict_logits
    teacher = small()
    student = small(method="kd", teacher=teacher, method_params={"temperature": 4})
    metrics = runs.get_or_train(student, progress="off")["metrics"]
    assert "teacher_agreement" not in runs.get_or_train(teacher, progress="off")["metrics"]  # no teacher, no fidelity
    s, t = (predict_logits(runs.load_model(spec), tiny.test_images, tiny, pick_device("cpu")).double().numpy()
            for spec in (student, teacher))
    log_softmax = lambda z: z - z.max(1, keepdims=True) - np.log(np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True))  # noqa: E731,E501
    kl = (np.exp(log_softmax(t)) * (log_softmax(t) - log_softmax(s))).sum(1).mean()
    assert metrics["teacher_agreement"] == pytest.approx((s.argmax(1) == t.argmax(1)).mean())
    assert metrics["teacher_kl"] == pytest.approx(kl, rel=1e-4, abs=1e-6) and metrics["teacher_kl"] > 0


def test_a_student_identical_to_its_teacher_agrees_everywhere_with_zero_kl():
    from kdlib.losses import fidelity
    logits = torch.randn(50, 10, generator=torch.Generator().manual_seed(0))
    assert fidelity(logits, logits) == pytest.approx({"teacher_agreement": 1.0, "teacher_kl": 0.0}, abs=1e-6)
    assert fidelity(-logits, logits)["teacher_agreement"] < 0.2


def test_a_row_with_several_teachers_records_its_fidelity_averaged_over_them(tiny):
    from kdlib.losses import fidelity
    from kdlib.train import pick_device, predict_logits
    teachers = [small(seed=seed) for seed in (0, 1)]
    student = small(method="kd", teacher=teachers[0], extra_teachers=(teachers[1],), method_params={"temperature": 4})
    metrics = runs.get_or_train(student, progress="off")["metrics"]
    logits = lambda spec: predict_logits(runs.load_model(spec), tiny.test_images, tiny, pick_device("cpu"))  # noqa: E731
    each = [fidelity(logits(student), logits(teacher)) for teacher in teachers]
    assert each[0] != each[1]
    for key in ("teacher_agreement", "teacher_kl"):
        assert metrics[key] == pytest.approx((each[0][key] + each[1][key]) / 2, rel=1e-5)
