"""The executors: a stage's runs in worker processes, on Ray and through submitit give the records one process
gives; prerequisites train first; a crash is reported with its spec id and stops neither its wave nor the CLI's
report."""

from __future__ import annotations

import pytest

from kdlib import executors, runs
from kdlib.spec import RunSpec


def _spec(seed: int = 0, **changes) -> RunSpec:
    """A real MNIST run of a second or so (workers are fresh processes: the synthetic dataset does not reach them)."""
    return RunSpec("mnist", "mlp_2x100", epochs=1, seed=seed, subset=600, val_size=100, batch_size=64,
                   lr=0.05).replace(**changes)


def _broken_teacher() -> RunSpec:
    """A teacher whose stored record says it diverged: a student of it fails in its worker, on any machine."""
    teacher = _spec(seed=9)
    runs.write_json_atomic(runs.record_path(teacher.id), {
        "id": teacher.id, "spec": teacher.to_dict(), "history": [], "provenance": {"recipe_version": runs.RECIPE_VERSION},
        "metrics": {"diverged": True, "error": "loss is nan", **{key: None for key in runs.DIVERGED_METRICS}}})
    return teacher


def _stored(spec: RunSpec) -> dict:
    record = runs.load_record(spec.id)
    assert record is not None, f"{spec.id} was not trained"
    return {"metrics": {k: v for k, v in record["metrics"].items() if "time" not in k and "seconds" not in k},
            "history": [{k: v for k, v in row.items() if "time" not in k} for row in record["history"]]}


def test_waves_put_every_missing_prerequisite_first_and_list_each_run_once():
    teacher = _spec()
    student = _spec(method="kd", teacher=teacher, model="mlp_2x800")
    other = _spec(seed=1, method="kd", teacher=teacher, model="mlp_2x800")
    assert executors.waves([student, other, student], lambda spec: False) == [[teacher], [student, other]]
    assert executors.waves([student, other], lambda spec: spec == teacher) == [[student, other]]
    assert executors.waves([teacher], lambda spec: True) == []
    # a run with a record needs nothing: its missing teacher is not trained again
    assert executors.waves([student], lambda spec: spec == student) == []


def test_local_workers_split_the_cores_and_the_gpus():
    assert executors.gpu_slots(4, 2) == ["0", "1", "0", "1"]  # two runs packed per GPU
    assert executors.gpu_slots(3, 2, visible="2,3") == ["2", "3", "2"]  # inside the mask this process was given
    assert executors.gpu_slots(2, 0) == [None, None]
    assert executors.split_threads(2, 3) == 3
    assert executors.split_threads(64) >= 1


@pytest.mark.data
@pytest.mark.process
def test_two_local_workers_give_the_records_of_one_process(tmp_path, monkeypatch):
    specs = [_spec(seed) for seed in range(3)]
    teacher_and_student = _spec(seed=0, method="kd", model="mlp_2x800", teacher=specs[0])
    stages = [lambda: specs, lambda: [teacher_and_student]]
    lines: list[str] = []
    assert executors.run_stages(stages, workers=2, threads=1, report=lines.append) == []
    assert len(lines) == 4 and all(spec.id in "\n".join(lines) for spec in (*specs, teacher_and_student))
    in_workers = {spec.id: _stored(spec) for spec in (*specs, teacher_and_student)}
    monkeypatch.setenv("KDLIB_RESULTS", str(tmp_path / "one"))
    monkeypatch.setenv("KDLIB_CACHE", str(tmp_path / "one-cache"))
    assert executors.run_stages(stages, workers=1, threads=1, report=lines.append) == []
    assert {spec.id: _stored(spec) for spec in (*specs, teacher_and_student)} == in_workers
    before = len(lines)
    assert executors.run_stages(stages, workers=2, threads=1, report=lines.append) == []
    assert len(lines) == before  # everything has a record: nothing is trained again


@pytest.mark.data
@pytest.mark.process
def test_a_crash_is_reported_and_does_not_stop_its_wave():
    good = _spec()
    broken = _spec(seed=1, method="kd", model="mlp_2x800", teacher=_broken_teacher())  # raises in its worker
    needs_broken = _spec(seed=2, method="kd", model="mlp_2x800", teacher=broken)
    listed = []
    stages = [lambda: [good, broken, needs_broken], lambda: listed.append(True) or [_spec(seed=3)]]
    lines: list[str] = []
    failures = executors.run_stages(stages, workers=2, threads=1, report=lines.append)
    assert [failure.spec_id for failure in failures] == [broken.id, needs_broken.id]
    assert "diverged" in failures[0].error and "it has no model to load" in failures[0].error
    assert "a run it needs failed" in failures[1].error
    assert runs.load_record(good.id) is not None and runs.load_record(broken.id) is None
    assert not listed and "stage 2 and later not started" in lines[-1]


@pytest.mark.data("fashion_mnist")
def test_the_cli_lists_the_failed_runs_and_exits_non_zero(monkeypatch, capsys):
    from kdlib import cli
    from kdlib.chapters import rocket_launching

    broken = _spec(method="kd", model="mlp_2x800", teacher=_broken_teacher())
    monkeypatch.setattr(rocket_launching, "stages", lambda profile, device=None: [lambda: [broken]])
    assert cli.main(["--threads", "1", "chapter", "rocket_launching", "--profile", "smoke"]) == 1
    err = capsys.readouterr().err
    assert "1 run(s) failed; run the command again to retry them" in err and broken.id in err


def test_bad_executor_settings_are_refused_before_any_run():
    with pytest.raises(ValueError, match="unknown executor 'dask'; choose one of: local, ray, slurm"):
        executors.run_stages([lambda: [_spec()]], executor="dask")
    with pytest.raises(ValueError, match="threads must be a positive integer, got 0"):
        executors.run_stages([lambda: [_spec()]], threads=0)
    assert runs.load_record(_spec().id) is None


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.process
def test_ray_runs_give_the_records_of_local_ones(tmp_path, monkeypatch):
    pytest.importorskip("ray", reason="the ray extra is installed by make test: pip install -e '.[ray]'")
    specs = [_spec(seed) for seed in range(2)]
    failing = _spec(seed=3, method="kd", model="mlp_2x800", teacher=_broken_teacher())
    failures = executors.run_stages([lambda: [*specs, failing]], executor="ray", workers=2, threads=1,
                                    report=lambda line: None)
    assert [failure.spec_id for failure in failures] == [failing.id] and "diverged" in failures[0].error
    on_ray = {spec.id: _stored(spec) for spec in specs}
    monkeypatch.setenv("KDLIB_RESULTS", str(tmp_path / "local"))
    assert executors.run_stages([lambda: specs], workers=1, threads=1, report=lambda line: None) == []
    assert {spec.id: _stored(spec) for spec in specs} == on_ray


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.process
def test_a_submitit_job_array_gives_the_records_of_local_runs(tmp_path, monkeypatch):
    pytest.importorskip("submitit", reason="the slurm extra is installed by make test: pip install -e '.[slurm]'")
    specs = [_spec(seed) for seed in range(2)]
    assert executors.run_stages([lambda: specs], executor="slurm", workers=2, threads=1, cluster="local",
                                folder=tmp_path / "jobs", report=lambda line: None) == []
    in_jobs = {spec.id: _stored(spec) for spec in specs}
    monkeypatch.setenv("KDLIB_RESULTS", str(tmp_path / "local"))
    assert executors.run_stages([lambda: specs], workers=1, threads=1, report=lambda line: None) == []
    assert {spec.id: _stored(spec) for spec in specs} == in_jobs


def _made_up(spec: RunSpec, val_acc: float) -> RunSpec:
    """A stored record of ``spec`` (nothing trains): what a pilot left behind."""
    runs.write_json_atomic(runs.record_path(spec.id), {
        "id": spec.id, "spec": spec.to_dict(), "history": [], "metrics": {"val_acc": val_acc, "test_acc": val_acc},
        "provenance": {"recipe_version": runs.RECIPE_VERSION, "wall_time_s": 1.0}})
    return spec


def test_a_failed_gate_names_itself_and_trains_nothing_after_it():
    from kdlib.claims import Gate

    teachers = [_made_up(_spec(seed=s, model="lenet5"), acc) for s, acc in ((0, 0.905), (1, 0.915))]
    students = [_made_up(_spec(seed=s), acc) for s, acc in ((0, 0.90), (1, 0.90))]
    gate = Gate("the teacher beats the student alone", margin=2.0)
    later = []
    stages = [lambda: teachers + students, executors.gate_stage(gate, lambda: teachers, lambda: students),
              lambda: later.append(True) or [_spec(seed=7)]]
    lines: list[str] = []
    failures = executors.run_stages(stages, report=lines.append)
    assert not later and runs.load_record(_spec(seed=7).id) is None  # nothing after the gate was even listed
    (failure,) = failures
    assert failure.spec_id == "gate" and failure.error == (
        "gate 'the teacher beats the student alone' failed on val_acc: 91.00 against 90.00, a difference of +1.00 "
        "points where at least +2.00 was required; the runs that depend on it were not trained (change the "
        "testbed, on validation, before judging claims on it)")
    assert lines[-1].startswith("GATE FAILED: gate 'the teacher beats") and "stage 2 and later not started" in lines[-1]
    passing = Gate("the teacher beats the student alone", margin=0.5)
    stages[1] = executors.gate_stage(passing, lambda: teachers, lambda: students)
    stages[2] = lambda: later.append(True) or []
    assert executors.run_stages(stages, report=lines.append) == [] and later == [True]
