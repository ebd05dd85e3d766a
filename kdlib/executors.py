"""Where a chapter's runs train: its stages handed, one at a time, to an executor.

A chapter lists its runs as stages (``chapter.stages(profile)``): functions returning specs, called in order, each
only after the one before has been trained, because a later stage reads earlier records (a grid's choice on
validation). Inside a stage the runs are independent once their prerequisites (teachers, generators) exist, so
``waves`` trains those first and then hands each wave to the executor:

- ``local``: N worker processes on this machine (``concurrent.futures``), the cores split between them; with CUDA,
  worker i gets GPU i mod G (``--workers G×K`` puts K runs on each GPU);
- ``ray``: one Ray task per run, ``num_cpus`` threads and ``num_gpus`` (a fraction packs small runs on a GPU), on a
  local instance or the cluster at ``address``;
- ``slurm``: one submitit job array per wave; the store must be on a filesystem every node sees.

A run that crashes is reported with its spec id and error and does not stop its wave; the stages after it are not
listed (they would read its record). The per-spec lock of the run store stays the guard against two workers
training one spec, and a re-run trains only what has no record, so it picks up where a stopped one ended.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Callable, Iterable

from kdlib.claims import Gate, GateFailed
from kdlib.runs import outcome
from kdlib.spec import RunSpec

EXECUTORS = ("local", "ray", "slurm")


@dataclass(frozen=True)
class Failure:
    spec_id: str
    what: str  # model / method / seed
    error: str


def store_environment() -> dict[str, str]:
    """The store this process reads and writes, as the environment a worker elsewhere needs to use the same one
    (the smoke profile's own store included)."""
    from kdlib.paths import cache_dir, data_dir, results_dir
    return {"KDLIB_DATA": str(data_dir()), "KDLIB_RESULTS": str(results_dir()), "KDLIB_CACHE": str(cache_dir())}


def train_spec(spec: RunSpec, device: str | None, threads: int, environment: dict[str, str]) -> dict:
    """One run in a worker: its record (trained now, or found); a sweep cell that diverges is a result, stored."""
    os.environ.update(environment)
    import torch

    from kdlib.runs import get_or_train
    torch.set_num_threads(threads)
    record = get_or_train(spec, device=device, progress="off", keep_divergence=True)
    return {"id": record["id"], "metrics": record["metrics"]}


def gate_stage(gate: "Gate", better: Callable[[], Iterable[RunSpec]], baseline: Callable[[], Iterable[RunSpec]]):
    """A stage that trains nothing and checks ``gate`` on the records of the specs ``better()`` and ``baseline()``
    list (trained by earlier stages): it raises ``GateFailed`` when the gate fails, so ``run_stages`` starts no later
    stage."""
    def stage() -> list[RunSpec]:
        from kdlib.runs import get_or_train
        gate.check([get_or_train(spec, train_missing=False) for spec in better()],
                   [get_or_train(spec, train_missing=False) for spec in baseline()])
        return []
    return stage


def prerequisites(spec: RunSpec) -> list[RunSpec]:
    """The runs whose models ``spec`` reads while it trains."""
    return [run for run in (spec.teacher, *spec.extra_teachers, spec.generator) if run is not None]


def waves(specs: Iterable[RunSpec], has_record: Callable[[RunSpec], bool]) -> list[list[RunSpec]]:
    """The runs of ``specs`` that have no record, with any missing prerequisite of theirs, in waves: a run comes
    one wave after the last of its missing prerequisites, so a wave's runs never wait for one another."""
    depth: dict[str, int] = {}
    chosen: dict[str, RunSpec] = {}

    def visit(spec: RunSpec) -> int:  # -1: has a record (its own prerequisites are then not needed)
        if spec.id not in depth:
            if has_record(spec):
                depth[spec.id] = -1
            else:
                depth[spec.id] = 1 + max((visit(run) for run in prerequisites(spec)), default=-1)
                chosen[spec.id] = spec
        return depth[spec.id]

    for spec in specs:
        visit(spec)
    out: list[list[RunSpec]] = [[] for _ in range(1 + max((depth[i] for i in chosen), default=-1))]
    for spec_id, spec in chosen.items():
        out[depth[spec_id]].append(spec)
    return out


def _has_current_record(spec: RunSpec) -> bool:
    from kdlib.runs import is_stale, load_record
    record = load_record(spec.id)
    return record is not None and not is_stale(record)


def _what(spec: RunSpec) -> str:
    return f"{spec.model} {spec.method} seed {spec.seed}"


def _error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".splitlines()[0]


def split_threads(workers: int, threads: int | None = None) -> int:
    """Threads per run: what was asked, else the cores shared evenly between the workers (at least one)."""
    if threads is not None:
        return threads
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // workers)


def gpu_slots(workers: int, n_gpus: int, visible: str | None = None) -> list[str | None]:
    """The GPU each local worker uses: worker i gets the (i mod G)-th visible GPU, so ``workers = G × K`` packs K
    runs per GPU; ``visible`` is this process's ``CUDA_VISIBLE_DEVICES``, which the slots stay inside."""
    names = visible.split(",") if visible else [str(index) for index in range(n_gpus)]
    return [names[index % n_gpus] if n_gpus else None for index in range(workers)]


def _start_worker(slots, environment: dict[str, str]) -> None:
    """Each local worker takes one GPU slot before CUDA starts (torch starts it lazily, at the first run), so it
    sees, and calls cuda:0, only its own GPU."""
    os.environ.update(environment)
    slot = slots.get()
    if slot is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = slot


def _run_local(specs, device, workers, threads, environment, report) -> list[Failure]:
    """``workers`` processes; with one, the runs train in this process (no pool to start)."""
    failures = []
    if workers == 1:
        import torch
        previous = torch.get_num_threads()
        try:
            for spec in specs:
                try:
                    report(_done(spec, train_spec(spec, device, threads, {})))  # this process's store already
                except Exception as error:  # noqa: BLE001 - a crash is reported, the stage goes on
                    _fail(failures, report, spec, _error(error))
        finally:
            torch.set_num_threads(previous)
        return failures
    import concurrent.futures
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # a forked torch (threads, CUDA) is not safe
    n_gpus = _visible_gpus(device)
    slots = context.Queue()
    for slot in gpu_slots(workers, n_gpus, os.environ.get("CUDA_VISIBLE_DEVICES")):
        slots.put(slot)
    pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                                                  initargs=(slots, environment))
    try:
        # workers start during the first submits and size their OpenMP pools from the environment they inherit
        with set_environment({"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}):
            futures = {pool.submit(train_spec, spec, device, threads, environment): spec for spec in specs}
        for future in concurrent.futures.as_completed(futures):
            spec = futures[future]
            try:
                report(_done(spec, future.result()))
            except Exception as error:  # noqa: BLE001
                _fail(failures, report, spec, _error(error))
    except BaseException:  # Ctrl-C, SIGTERM: stop the workers now, not after every queued run
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return failures


@contextlib.contextmanager
def set_environment(values: dict[str, str]):
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _visible_gpus(device: str | None) -> int:
    if device == "cpu":
        return 0
    import torch
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _run_ray(specs, device, workers, threads, environment, report, address=None, gpus_per_run=None):
    """One Ray task per run. A local instance gets ``workers × threads`` CPUs, so ``workers`` runs go at once."""
    try:
        import ray
    except ImportError as error:
        raise ValueError("the ray executor needs Ray: pip install -e '.[ray]'") from error
    n_gpus = _visible_gpus(device)
    started_here = not ray.is_initialized()
    if started_here:
        options = dict(address=address) if address else dict(num_cpus=workers * threads, num_gpus=n_gpus)
        ray.init(include_dashboard=False, logging_level="ERROR", log_to_driver=False, **options)
    if gpus_per_run is None:
        gpus_per_run = 1.0 if n_gpus else 0.0
    task = ray.remote(num_cpus=threads, num_gpus=gpus_per_run, max_retries=0)(train_spec)
    pending = {task.remote(spec, device, threads, environment): spec for spec in specs}
    failures = []
    try:
        while pending:
            finished, _ = ray.wait(list(pending), num_returns=1)
            spec = pending.pop(finished[0])
            try:
                report(_done(spec, ray.get(finished[0])))
            except Exception as error:  # noqa: BLE001 - ray.exceptions.RayTaskError wraps the run's own error
                cause = getattr(error, "cause", None) or error
                _fail(failures, report, spec, _error(cause))
    finally:
        if started_here:
            ray.shutdown()
    return failures


def _run_slurm(specs, device, workers, threads, environment, report, cluster=None, folder=None,
               gpus_per_run=None, timeout_min=24 * 60):
    """One submitit job array per wave (at most ``workers`` jobs at once). ``cluster="local"`` runs the array
    on this machine through submitit's local executor (the tests' way)."""
    try:
        import submitit
    except ImportError as error:
        raise ValueError("the slurm executor needs submitit: pip install -e '.[slurm]'") from error
    import shutil
    from pathlib import Path
    if cluster is None and shutil.which("sbatch") is None:
        raise ValueError("the slurm executor needs Slurm (no sbatch on PATH); use --executor local or ray here")
    if gpus_per_run is None:
        gpus_per_run = 1 if device == "cuda" else 0
    if gpus_per_run != int(gpus_per_run):
        raise ValueError(f"--gpus-per-run {gpus_per_run} is not a whole number; a Slurm job takes whole GPUs (Ray "
                         f"packs fractions)")
    folder = Path(folder or Path(environment["KDLIB_CACHE"]) / "submitit") / "%j"
    executor = submitit.AutoExecutor(folder=folder, cluster=cluster or "slurm")
    executor.update_parameters(name="kdlib", timeout_min=timeout_min, cpus_per_task=threads,
                               gpus_per_node=int(gpus_per_run or 0), slurm_array_parallelism=workers)
    jobs = executor.map_array(train_spec, specs, [device] * len(specs), [threads] * len(specs),
                              [environment] * len(specs))
    failures = []
    for job, spec in zip(jobs, specs):
        try:
            report(_done(spec, job.result()))
        except Exception as error:  # noqa: BLE001 - submitit's FailedJobError carries the worker's traceback
            lines = [line for line in str(error).splitlines() if line.strip()]
            _fail(failures, report, spec, lines[-1].strip() if lines else _error(error))
    return failures


def _fail(failures: list[Failure], report, spec: RunSpec, error: str) -> None:
    """Note a run that crashed: in the stage's failures, and in the log as it happens."""
    failures.append(Failure(spec.id, _what(spec), error))
    report(f"FAILED {spec.id} {_what(spec)}: {error}")


def _done(spec: RunSpec, result: dict) -> str:
    return f"{result['id']} {_what(spec)}: {outcome(result['metrics'])}"


def run_stages(stages: Iterable[Callable[[], Iterable[RunSpec]]], executor: str = "local", workers: int = 1,
               threads: int | None = None, device: str | None = None, report: Callable[[str], None] = print,
               **options) -> list[Failure]:
    """Train every stage's missing runs, stage after stage; returns the failures (an empty list: all trained).
    ``options`` go to the executor (``address``, ``gpus_per_run`` for Ray; ``cluster``, ``folder``, ``gpus_per_run``
    for Slurm)."""
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; choose one of: {', '.join(EXECUTORS)}")
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    run = {"local": _run_local, "ray": _run_ray, "slurm": _run_slurm}[executor]
    threads = split_threads(workers, threads)
    environment = store_environment()
    failures: list[Failure] = []
    for number, stage in enumerate(stages, 1):
        if failures:
            report(f"stage {number} and later not started: they read the records of the failed runs")
            break
        try:
            specs = list(stage())
        except GateFailed as error:  # a gate stage: nothing after it trains
            report(f"GATE FAILED: {error}; stage {number} and later not started")
            failures.append(Failure("gate", f"stage {number}", str(error)))
            break
        lost: set[str] = set()  # failed runs, and the runs of later waves that need one of them
        for wave in waves(specs, _has_current_record):
            ready = []
            for spec in wave:
                if any(run.id in lost for run in prerequisites(spec)):
                    lost.add(spec.id)
                    failures.append(Failure(spec.id, _what(spec), "not started: a run it needs failed"))
                    report(f"SKIPPED {spec.id} {_what(spec)}: a run it needs failed")
                else:
                    ready.append(spec)
            found = run(ready, device, workers, threads, environment, report, **options) if ready else []
            lost |= {failure.spec_id for failure in found}
            failures += found
    return failures
