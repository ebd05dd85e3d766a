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

from kdlib import runs
from kdlib.paths import cache_dir, results_dir
from kdlib.runs import RunSpec
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
def test_two_processes_on_the_same_spec_train_it_once_and_agree():
    first, second = _cli_run(), _cli_run()
    (out1, err1), (out2, err2) = first.communicate(timeout=300), second.communicate(timeout=300)
    assert first.returncode == second.returncode == 0, err1 + err2
    assert json.loads(out1) == json.loads(out2)
    assert (err1 + err2).count("epoch 4/4") == 1, "the spec was trained twice"
    (record_file,) = results_dir().glob("*.json")  # one record, complete, holding what both processes printed
    assert json.loads(record_file.read_text())["metrics"]["test_acc"] == json.loads(out1)["test_acc"]


@pytest.mark.slow
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


def test_verify_passes_a_true_record_and_catches_an_altered_or_stale_one(tiny, monkeypatch):
    spec = small(epochs=2)
    record = runs.get_or_train(spec, progress="off")
    (row,) = runs.verify([spec.id])
    assert row["outcome"] == "reproduced" and row["largest difference"] == 0

    record["metrics"]["test_acc"] += 0.01  # a hand-edited number
    runs.record_path(spec.id).write_text(json.dumps(record))
    (row,) = runs.verify([spec.id])
    assert row["outcome"] == "differs" and row["largest difference"] == pytest.approx(0.01)

    monkeypatch.setattr(runs, "RECIPE_VERSION", runs.RECIPE_VERSION + 1)
    (row,) = runs.verify(sample=5)
    assert row["outcome"] == "stale"

    with pytest.raises(FileNotFoundError, match="no \\(non-diverged\\) run record 000000000000"):
        runs.verify(["000000000000"])


def test_verify_demands_an_exact_match_only_on_the_recording_processor(tiny, monkeypatch):
    """A record names its processor and torch build; on another processor (or for an older record that names none)
    a re-run is held to the tolerance, and the detail says why."""
    spec = small(epochs=1)
    record = runs.get_or_train(spec, progress="off")
    here = runs.cpu_environment()
    assert {key: record["provenance"][key] for key in here} == here
    assert here["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and here["cpu"]
    (row,) = runs.verify([spec.id])
    assert row["detail"].startswith("must match exactly")

    record["metrics"]["test_acc"] += 0.001  # within the tolerance, but not bit for bit
    record["provenance"]["cpu"] = "Some Other CPU"
    runs.record_path(spec.id).write_text(json.dumps(record))
    (row,) = runs.verify([spec.id])
    assert row["outcome"] == "reproduced" and row["detail"] == f"cpu Some Other CPU here {here['cpu']}: tolerance 0.005"

    for key in here:
        del record["provenance"][key]
    runs.record_path(spec.id).write_text(json.dumps(record))
    (row,) = runs.verify([spec.id])
    assert row["outcome"] == "reproduced" and row["detail"].startswith("the record does not name its processor")

    record["provenance"].update(here)  # the recording processor again: now the 0.001 counts
    runs.record_path(spec.id).write_text(json.dumps(record))
    (row,) = runs.verify([spec.id])
    assert row["outcome"] == "differs"


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
