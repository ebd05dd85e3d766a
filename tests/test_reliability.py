"""Failure paths of the run store: interrupted runs resume exactly, concurrent runs train once, stale records are
reported, ``verify`` catches a record that no longer reproduces."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from kdlib import runs, verify
from kdlib.paths import cache_dir, results_dir
from kdlib.spec import RunSpec
from kdlib.train import train

ROOT = Path(__file__).resolve().parent.parent
TIME_KEYS = {"train_time_s", "epoch_time_s"}


def _without_times(history):
    return [{k: v for k, v in row.items() if k not in TIME_KEYS} for row in history]


def small(**changes) -> RunSpec:
    return RunSpec("mnist", "mlp_2x100_drop20", epochs=3, lr=0.05, batch_size=16, val_size=40).replace(**changes)


class Interrupt(Exception):
    pass


def test_a_resumed_run_ends_exactly_where_an_uninterrupted_one_does(tiny):
    """Dropout and the noisy teacher draw from the global RNG, the batch order from the trainer's generator: both
    must be restored, as must the optimiser's momentum."""
    teacher_logits = torch.randn(len(tiny.train_images), 3) * 3
    spec = small(method="noisy_teacher", teacher=small(), method_params={"alpha": 0.5, "sigma": 0.5}, lr=0.01)
    full = train(spec, tiny, teacher_logits=teacher_logits, progress="off")
    saved = []

    def stop_after_first_epoch(state):
        saved.append(state)
        raise Interrupt

    with pytest.raises(Interrupt):
        train(spec, tiny, teacher_logits=teacher_logits, progress="off", checkpoint=stop_after_first_epoch)
    torch.manual_seed(1234)  # whatever the process did in between must not matter
    resumed = train(spec, tiny, teacher_logits=teacher_logits, progress="off", resume=saved[0])
    assert _without_times(resumed.history) == _without_times(full.history)
    for name, value in full.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name


def _cli_run(*extra, env=None):
    command = [sys.executable, "-m", "kdlib", "--threads", "1", "run", "--dataset", "mnist", "--model", "mlp_2x100",
               "--epochs", "4", "--lr", "0.05", "--subset", "20000", "--val-size", "2000", *extra]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def _kill_after_first_epoch(process, signum):
    for line in process.stderr:
        if "epoch 1/4" in line:
            break
    else:
        raise AssertionError(f"the run ended before its first epoch: {process.communicate()}")
    time.sleep(0.3)
    process.send_signal(signum)
    process.communicate(timeout=60)
    return process.returncode


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.process
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_a_killed_run_leaves_no_record_and_resumes_to_the_same_record(tmp_path, signum):
    returncode = _kill_after_first_epoch(_cli_run(), signum)
    assert returncode != 0
    assert not results_dir().exists() or list(results_dir().iterdir()) == [], "a killed run left files in results/"
    assert list((cache_dir() / "resume").glob("*.pt")), "no resume state after a finished epoch"

    again = _cli_run()
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert "resuming after epoch" in err
    (record_file,) = results_dir().glob("*.json")
    resumed = json.loads(record_file.read_text())
    assert not list((cache_dir() / "resume").glob("*.pt")), "the resume state outlived its record"

    reference_env = {"KDLIB_RESULTS": str(tmp_path / "reference"), "KDLIB_CACHE": str(tmp_path / "reference_cache")}
    reference = _cli_run(env=reference_env)
    reference.communicate(timeout=300)
    expected = json.loads((tmp_path / "reference" / record_file.name).read_text())
    assert _without_times(resumed["history"]) == _without_times(expected["history"])
    assert {k: v for k, v in resumed["metrics"].items() if k not in TIME_KEYS} == \
        {k: v for k, v in expected["metrics"].items() if k not in TIME_KEYS}


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.process
def test_two_processes_on_the_same_spec_train_it_once_and_agree():
    first, second = _cli_run(), _cli_run()
    (out1, err1), (out2, err2) = first.communicate(timeout=300), second.communicate(timeout=300)
    assert first.returncode == second.returncode == 0, err1 + err2
    assert json.loads(out1) == json.loads(out2)
    assert (err1 + err2).count("epoch 4/4") == 1, "the spec was trained twice"
    (record_file,) = results_dir().glob("*.json")  # one record, complete, holding what both processes printed
    assert json.loads(record_file.read_text())["metrics"]["test_acc"] == json.loads(out1)["test_acc"]


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.process
def test_two_processes_on_different_specs_leave_both_records_intact():
    first, second = _cli_run("--seed", "1"), _cli_run("--seed", "2")
    for process in (first, second):
        process.communicate(timeout=300)
        assert process.returncode == 0
    records = [json.loads(path.read_text()) for path in results_dir().glob("*.json")]
    assert sorted(record["spec"]["seed"] for record in records) == [1, 2]
    assert not [path for path in results_dir().iterdir() if path.suffix != ".json"]


def test_an_unreadable_resume_state_is_dropped_not_trusted(tiny):
    spec = small()
    runs.resume_path(spec).parent.mkdir(parents=True)
    runs.resume_path(spec).write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match="unreadable .* starting .* afresh"):
        record = runs.get_or_train(spec, progress="off")
    assert len(record["history"]) == spec.epochs
    assert not runs.resume_path(spec).exists()


def test_a_resume_state_of_the_trainer_before_phases_is_dropped(tiny):
    spec = small()
    runs.resume_path(spec).parent.mkdir(parents=True)
    torch.save({"epoch": 1, "model": {}, "optimizer": {}}, runs.resume_path(spec))  # the old layout
    with pytest.warns(UserWarning, match="written by an older kdlib; starting .* afresh"):
        record = runs.get_or_train(spec, progress="off")
    assert len(record["history"]) == spec.epochs and record["history"][0]["epoch"] == 1
    assert not runs.resume_path(spec).exists()


def test_a_stale_record_is_reported_not_shown(tiny, monkeypatch):
    spec = small()
    first = runs.get_or_train(spec, progress="off")
    assert first["provenance"]["recipe_version"] == runs.RECIPE_VERSION
    monkeypatch.setattr(runs, "RECIPE_VERSION", runs.RECIPE_VERSION + 1)
    with pytest.raises(runs.StaleRecordError, match=f"recipe version {runs.RECIPE_VERSION - 1}, this kdlib is "
                                                    f"version {runs.RECIPE_VERSION}"):
        runs.get_or_train(spec, train_missing=False)
    with pytest.warns(UserWarning, match="re-training it"):
        again = runs.get_or_train(spec, progress="off")
    assert again["provenance"]["recipe_version"] == runs.RECIPE_VERSION
    assert _without_times(again["history"]) == _without_times(first["history"])


def _verify(ids=None, **options):
    return list(verify.verify(verify.plan(ids, **options)))


def test_verify_passes_a_true_record_and_catches_an_altered_or_stale_one(tiny, monkeypatch):
    spec = small(epochs=2)
    record = runs.get_or_train(spec, progress="off")
    (row,) = _verify([spec.id])
    assert row["outcome"] == "reproduced" and row["mode"] == "exact"
    assert {check["metric"] for check in row["checks"]} == {"test_acc", "test_acc_at_best_val", "val_acc"}
    assert all(check["difference"] == 0 and check["bound"] == 0 for check in row["checks"])

    record["metrics"]["test_acc"] += 0.01  # a hand-edited number
    runs.record_path(spec.id).write_text(json.dumps(record))
    (row,) = _verify([spec.id])
    (edited,) = [check for check in row["checks"] if check["metric"] == "test_acc"]
    assert row["outcome"] == "differs" and edited["difference"] == pytest.approx(-0.01) and not edited["passed"]

    monkeypatch.setattr(runs, "RECIPE_VERSION", runs.RECIPE_VERSION + 1)
    assert verify.plan(sample=5) == []  # a stale record is never drawn ...
    (row,) = _verify([spec.id])  # ... and a named one is reported, not re-run
    assert row["outcome"] == "stale"

    with pytest.raises(FileNotFoundError, match="no \\(non-diverged\\) run record 000000000000"):
        verify.plan(["000000000000"])


def test_verify_demands_an_exact_match_only_on_the_recording_processor(tiny, monkeypatch):
    """A record names its processor and torch build; on another processor (or for an older record that names none)
    a re-run is a new draw, judged against the spread of its setting, and the row says why."""
    spec = small(epochs=1)
    record = runs.get_or_train(spec, progress="off")
    here = runs.cpu_environment()
    assert {key: record["provenance"][key] for key in here} == here
    assert here["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and here["cpu"]
    (row,) = _verify([spec.id])
    assert row["mode"] == "exact" and row["why"].startswith("same processor")

    record["metrics"]["test_acc"] += 0.001  # within the default bound, but not bit for bit
    record["provenance"]["cpu"] = "Some Other CPU"
    runs.record_path(spec.id).write_text(json.dumps(record))
    (row,) = _verify([spec.id])
    assert row["outcome"] == "reproduced" and row["mode"] == "statistical"
    assert row["why"] == f"cpu Some Other CPU here {here['cpu']}"
    assert all(check["basis"] == "default 0.02: 1 seed of this setting, fewer than 3" for check in row["checks"])

    for key in here:
        del record["provenance"][key]
    runs.record_path(spec.id).write_text(json.dumps(record))
    (row,) = _verify([spec.id])
    assert row["outcome"] == "reproduced" and row["why"] == "the record does not name its processor"

    record["provenance"].update(here)  # the recording processor again: now the 0.001 counts
    runs.record_path(spec.id).write_text(json.dumps(record))
    (row,) = _verify([spec.id])
    assert row["outcome"] == "differs" and row["mode"] == "exact"


def test_a_student_of_a_teacher_recorded_elsewhere_is_not_held_exact(tiny):
    """The teacher re-built here differs from the one the record learned from, so the student cannot match."""
    teacher = small(epochs=1)
    student = small(epochs=1, method="kd", teacher=teacher, method_params={"temperature": 4})
    runs.get_or_train(student, progress="off")
    stored = runs.load_record(teacher.id)
    stored["provenance"]["cpu"] = "Some Other CPU"
    runs.record_path(teacher.id).write_text(json.dumps(stored))
    records = {record["id"]: record for record in runs.all_records()}
    assert verify.chain_difference(records[student.id], records) == \
        f"its prerequisite {teacher.id}: cpu Some Other CPU here {runs.cpu_environment()['cpu']}"


def _made_up(seed: int, test_acc: float, wall_time_s: float = 60.0, teacher: RunSpec | None = None,
             **changes) -> dict:
    spec = RunSpec("mnist", "mlp_2x100", epochs=2, seed=seed, teacher=teacher,
                   method="kd" if teacher else "ce").replace(**changes)
    return {"id": spec.id, "spec": spec.to_dict(), "history": [],
            "metrics": {"test_acc": test_acc, "n_test": 10_000},
            "provenance": {"device": "cpu (x86_64)", "torch": torch.__version__, "threads": 1, "cpu": "Other CPU",
                           "wall_time_s": wall_time_s, "recipe_version": runs.RECIPE_VERSION}}


@pytest.mark.parametrize("rerun_difference, passes", [(0.0135, True), (0.0145, False), (-0.0145, False)])
def test_the_band_is_the_99_percent_prediction_interval_of_two_draws(rerun_difference, passes):
    """Three seeds at 0.900, 0.901, 0.902: sd 0.001 with 2 degrees of freedom, so the bound is
    t(0.995, 2) × √2 × 0.001 = 9.9248 × 1.4142 × 0.001 = 0.01404 (t from a printed table, not from scipy)."""
    siblings = [_made_up(seed, acc) for seed, acc in enumerate((0.900, 0.901, 0.902))]
    comparison = {"test_acc": {"stored": 0.900, "rerun": 0.900 + rerun_difference, "difference": rerun_difference}}
    row = verify.judge(siblings[0], comparison, "cpu Other CPU here This CPU", siblings)
    (check,) = row["checks"]
    assert check["bound"] == pytest.approx(9.9248 * 2 ** 0.5 * 0.001, rel=1e-4)
    assert check["basis"] == "99% band for two draws: t(2) 9.92 × √2 × sd 0.0010 of 3 seeds"
    assert row["mode"] == "statistical" and row["outcome"] == ("reproduced" if passes else "differs")


def test_with_fewer_than_three_seeds_the_stated_default_is_used():
    siblings = [_made_up(seed, acc) for seed, acc in enumerate((0.900, 0.950))]
    comparison = {"test_acc": {"stored": 0.900, "rerun": 0.915, "difference": 0.015}}
    (check,) = verify.judge(siblings[0], comparison, "elsewhere", siblings)["checks"]
    assert check["bound"] == 0.02 and check["passed"]
    assert check["basis"] == "default 0.02: 2 seeds of this setting, fewer than 3"
    (check,) = verify.judge(siblings[0], comparison, "elsewhere", siblings, default_bound=0.01)["checks"]
    assert check["bound"] == 0.01 and not check["passed"]
    identical = [_made_up(seed, 0.1) for seed in range(3)]  # collapsed seeds: sd 0, bound one test image
    (check,) = verify.judge(identical[0], {"test_acc": {"stored": 0.1, "rerun": 0.1001, "difference": 1e-4}},
                            "elsewhere", identical)["checks"]
    assert check["bound"] == pytest.approx(1e-4) and check["passed"]


def test_the_time_plan_counts_prerequisites_and_draws_only_what_fits():
    """A student whose teacher is not in the cache costs the teacher's recorded minutes too: with 5 minutes, a
    4-minute teacher plus a 1-minute student does not fit, a 1-minute student of a cached teacher does."""
    slow_teacher, cached_teacher = (_made_up(0, 0.99, wall_time_s=240, lr=lr) for lr in (0.1, 0.2))
    far = _made_up(0, 0.98, wall_time_s=50, teacher=RunSpec.from_dict(slow_teacher["spec"]))
    near = _made_up(0, 0.98, wall_time_s=50, teacher=RunSpec.from_dict(cached_teacher["spec"]))
    records = {record["id"]: record for record in (slow_teacher, cached_teacher, far, near)}
    in_cache = lambda spec: spec.id == cached_teacher["id"]  # noqa: E731
    draws = [verify.plan(sample=4, seed=seed, max_minutes=5, records=records, in_cache=in_cache)
             for seed in range(20)]
    assert all(sum(entry.total_s for entry in entries) <= 5 * 60 for entries in draws)
    drawn = [{entry.record["id"] for entry in entries} for entries in draws]
    assert not any(far["id"] in ids for ids in drawn) and any(near["id"] in ids for ids in drawn)
    (entry,) = verify.plan([far["id"]], records=records, in_cache=in_cache)  # no bound: named, it is planned
    assert [before["id"] for before, _ in entry.prerequisites] == [slow_teacher["id"]]
    assert entry.total_s == 240 + 50 + 2 * verify.RUN_OVERHEAD_S
    assert "prerequisite: mlp_2x100 ce (not in the cache: re-trained first)" in verify.describe_plan([entry], None)
    with pytest.raises(ValueError, match=f"need 5.2 minutes .*{far['id']} alone 5.2.* more than --max-minutes 4"):
        verify.plan([far["id"]], max_minutes=4, records=records, in_cache=in_cache)
    sibling = _made_up(1, 0.98, wall_time_s=50, teacher=RunSpec.from_dict(slow_teacher["spec"]))
    twice = verify.plan([far["id"], sibling["id"]], records={**records, sibling["id"]: sibling}, in_cache=in_cache)
    assert [len(entry.prerequisites) for entry in twice] == [1, 0]  # a shared teacher is re-trained once


@pytest.mark.process
def test_the_cli_verify_exits_non_zero_when_a_record_does_not_reproduce(tmp_path):
    results_dir().mkdir(parents=True)
    spec = RunSpec("mnist", "mlp_2x100", epochs=1, subset=300, val_size=50)
    record = {"id": spec.id, "spec": spec.to_dict(), "history": [],
              "metrics": {"test_acc": 0.5, "test_acc_at_best_val": 0.5, "val_acc": 0.5},
              "provenance": {"device": "cpu (x86_64)", "torch": torch.__version__, "threads": 1,
                             "wall_time_s": 1.0, "recipe_version": 0}}
    runs.record_path(spec.id).write_text(json.dumps(record))
    result = subprocess.run([sys.executable, "-m", "kdlib", "verify", spec.id], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 1
    assert "stale" in result.stdout and "0 of 1 records reproduced" in result.stdout
    listing = subprocess.run([sys.executable, "-m", "kdlib", "list"], cwd=ROOT, capture_output=True, text=True)
    assert "STALE" in listing.stdout
