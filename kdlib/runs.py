"""The run store: one JSON record per spec id (``kdlib.spec``) under ``results/``.

Every number in the book is read from such a record, and ``python -m kdlib reproduce ID`` re-runs the spec to check
it. Records are small and committed. Teacher checkpoints and teacher logits are large, so they live in the cache
folder (``KDLIB_CACHE``) and are rebuilt from the teacher's spec when missing: same spec, same seed, same weights.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import functools
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

import kdlib.train
from kdlib import data as data_module
from kdlib.data import split_indices
from kdlib.losses import fidelity
from kdlib.methods import get_method, parse_params
from kdlib.models import build_model
from kdlib.paths import cache_dir, project_root, results_dir
from kdlib.spec import RunSpec
from kdlib.train import pick_device, predict_logits

# Bump when a change to kdlib alters what an existing spec trains (the trainer, a loss, a model, the data pipeline).
# Records made under another version are stale: they are reported, never shown as if they were current.
RECIPE_VERSION = 1

def outcome(metrics: dict) -> str:
    """A run's result in a few words, for listings and logs: its test accuracy, the generator loss of a generator run
    (data-free KD, which has no accuracy), or that it diverged."""
    if metrics.get("diverged"):
        return "diverged"
    if metrics.get("test_acc") is None:
        return f"generator loss {metrics['generator_loss']:.4f}" if "generator_loss" in metrics else "trained"
    return f"test acc {metrics['test_acc']:.4f}"


def record_path(spec_id: str) -> Path:
    return results_dir() / f"{spec_id}.json"


def _atomic_write(path: Path, write) -> None:
    """Write through ``write(file)`` to a unique temporary file in the same folder, then rename: a crash (or a second
    process writing the same path) never leaves a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            write(out)
        # mkstemp makes the file private (0600); a store a group shares needs the mode open() would give
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, payload: dict) -> None:
    _atomic_write(path, lambda out: out.write((json.dumps(payload, indent=1, sort_keys=True) + "\n").encode()))


class StaleRecordError(ValueError):
    """A stored record made by another recipe version of kdlib than the running one."""


def recipe_version(record: dict) -> int:
    return record.get("provenance", {}).get("recipe_version", 1)  # records before versioning are version 1


def is_stale(record: dict) -> bool:
    return recipe_version(record) != RECIPE_VERSION


_READ: dict = {}  # path -> (mtime_ns, size, record): a record file is parsed once per process while unchanged
READS = {"parsed": 0}  # how many record files this process has parsed (the pages' "read once" is counted with it)


def _read(path: Path) -> dict | None:
    """The record at ``path``, parsed once per process for as long as the file is unchanged (another process may
    write it: a worker that trained it). Callers share the dict: treat it as read-only."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    cached = _READ.get(path)
    if cached is not None and cached[:2] == (stat.st_mtime_ns, stat.st_size):
        return cached[2]
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"run record {path} is not valid JSON ({error}); delete it to re-train the run") from None
    READS["parsed"] += 1
    _READ[path] = (stat.st_mtime_ns, stat.st_size, record)
    return record


def load_record(spec_id: str) -> dict | None:
    return _read(record_path(spec_id))


def all_records() -> list[dict]:
    return [_read(path) for path in sorted(results_dir().glob("*.json"))]


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=project_root(), capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


@functools.lru_cache(maxsize=1)
def code_version() -> tuple[str | None, bool]:
    """Git commit of the checkout and whether kdlib/ had uncommitted changes, read once when the process first
    trains (the code it imported), not when a long run finally writes its record."""
    return _git("rev-parse", "HEAD") or None, bool(_git("status", "--porcelain", "--", "kdlib"))


@functools.lru_cache(maxsize=1)
def cpu_environment() -> dict:
    """What decides whether a CPU re-run matches a record bit for bit, beyond torch's version and the thread count:
    the processor (its model name and the vector instructions torch dispatches to) and torch's build (its BLAS and
    oneDNN versions, fingerprinted from ``torch.__config__.show()``). The same code differs in the third decimal
    between an Intel Xeon and an AMD EPYC."""
    model = None  # unknown (no "model name" in /proc/cpuinfo, e.g. ARM, macOS): never demands an exact match
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    build = hashlib.sha256(torch.__config__.show().encode()).hexdigest()[:12]
    return {"cpu": model, "cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch_build": build}


def provenance(device: torch.device, wall_time_s: float) -> dict:
    import torchvision

    from kdlib import __version__
    commit, dirty = code_version()
    return {
        "git_commit": commit,
        "git_dirty": dirty,
        "kdlib": __version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
        "python": platform.python_version(),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({platform.machine()})",
        "threads": torch.get_num_threads(),
        **cpu_environment(),
        "recipe_version": RECIPE_VERSION,
        "wall_time_s": round(wall_time_s, 2),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


# --- caches -----------------------------------------------------------------------------------------------------

def checkpoint_path(spec: RunSpec) -> Path:
    return cache_dir() / "checkpoints" / f"{spec.id}.pt"


def logits_path(spec: RunSpec) -> Path:
    return cache_dir() / "teacher_logits" / f"{spec.id}.pt"


def extra_path(spec: RunSpec, name: str) -> Path:
    """A module that ``spec``'s run trained besides its model (``"generator"``: the one DAFL trains alongside its
    student)."""
    return cache_dir() / f"{name}s" / f"{spec.id}.pt"


def resume_path(spec: RunSpec) -> Path:
    return cache_dir() / "resume" / f"{spec.id}.pt"


def _resume_state(spec: RunSpec) -> dict | None:
    """The state an interrupted run of ``spec`` left after its last finished epoch; None to start afresh."""
    path = resume_path(spec)
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - an unreadable resume file is dropped, never trusted
        warnings.warn(f"resume state {path} is unreadable ({type(error).__name__}); starting {spec.id} afresh")
        path.unlink()
        return None
    if "phases" not in state:  # written by the trainer before phases: its layout cannot be restored
        warnings.warn(f"resume state {path} was written by an older kdlib; starting {spec.id} afresh")
        path.unlink()
        return None
    print(f"[{spec.id}] resuming after epoch {state['epoch']} of {spec.epochs}", file=sys.stderr, flush=True)
    return state


@contextlib.contextmanager
def _spec_lock(spec: RunSpec):
    """An exclusive lock per spec id across processes: a second process training the same spec waits, then finds
    the first one's record instead of training it again. The lock dies with its process, even on SIGKILL."""
    path = cache_dir() / "locks" / f"{spec.id}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _save_atomic(obj, path: Path) -> None:
    _atomic_write(path, lambda out: torch.save(obj, out))


def _train_and_store(spec: RunSpec, device, progress: str, write: bool = True,
                     keep_divergence: bool = False) -> tuple[dict, torch.nn.Module | None]:
    device = pick_device(device)
    dataset = data_module.load(spec.dataset)
    method = get_method(spec.method)
    teacher_logits = teacher_model = None
    if spec.teacher is not None:
        if not method.reads_training_images:  # data-free: the teacher labels generated images, not the training set
            teacher_model = load_model(spec.teacher, device=device, progress=progress)
        elif spec.extra_teachers:  # rows × teachers × classes: the trainer draws one teacher per row
            teacher_logits = torch.stack([teacher_train_logits(teacher, device=device, progress=progress)
                                          for teacher in (spec.teacher, *spec.extra_teachers)], dim=1)
        elif spec.augment == "none":
            teacher_logits = teacher_train_logits(spec.teacher, device=device, progress=progress)
        else:
            teacher_model = load_model(spec.teacher, device=device, progress=progress)
    init_state = load_model(spec.teacher, device=device, progress=progress).state_dict() \
        if spec.init_from_teacher else None
    generator = load_model(spec.generator, device=device, progress=progress) if spec.generator else None
    code_version()
    started = time.perf_counter()
    resumable = {"checkpoint": lambda state: _save_atomic(state, resume_path(spec)),
                 "resume": _resume_state(spec)} if write else {}
    try:
        result = kdlib.train.train(spec, dataset, teacher=teacher_model, teacher_logits=teacher_logits,
                                   generator=generator, device=device, progress=progress,
                                   label=f"{spec.model}/{spec.method} {spec.id}", init_state=init_state, **resumable)
    except FloatingPointError as error:
        if not keep_divergence:
            raise
        record = {"id": spec.id, "spec": spec.to_dict(), "history": getattr(error, "history", []),
                  "metrics": {"diverged": True, "error": str(error), **{key: None for key in DIVERGED_METRICS}},
                  "provenance": provenance(device, time.perf_counter() - started)}
        if write:
            write_json_atomic(record_path(spec.id), record)
            resume_path(spec).unlink(missing_ok=True)
        return record, None
    if spec.teacher is not None and "test_acc" in result.metrics:  # a classifier taught by a teacher
        result.metrics.update(teacher_fidelity(spec, result.model, dataset, device, progress))
    for name, module in result.extras.items():  # e.g. the generator DAFL trained alongside its student
        _save_atomic(module.state_dict(), extra_path(spec, name))
    record = {"id": spec.id, "spec": spec.to_dict(), "metrics": result.metrics, "history": result.history,
              "provenance": provenance(device, time.perf_counter() - started)}
    if write:
        _save_atomic(result.model.state_dict(), checkpoint_path(spec))
        write_json_atomic(record_path(spec.id), record)
        resume_path(spec).unlink(missing_ok=True)
    return record, result.model


def teacher_fidelity(spec: RunSpec, model: torch.nn.Module, dataset, device, progress: str = "auto") -> dict:
    """``kdlib.losses.fidelity`` of a trained student against its teacher on the test images the run was tested on
    (against each teacher and averaged, for a row that learns from several): beside accuracy, how much of the
    teacher the student took."""
    images, _ = kdlib.train.test_split(spec, dataset)
    student = kdlib.train.predict_heads(model.to(device), images, dataset, device)[""]
    model.cpu()
    scores = [fidelity(student, kdlib.train.predict_heads(load_model(teacher, device, progress).to(device), images,
                                                         dataset, device)[""])
              for teacher in (spec.teacher, *spec.extra_teachers)]
    return {key: sum(score[key] for score in scores) / len(scores) for key in scores[0]}


DIVERGED_METRICS = ("test_acc", "test_acc_at_best_val", "val_acc", "test_acc_max_over_epochs")


def get_or_train(spec: RunSpec, train_missing: bool = True, device=None, progress: str = "auto",
                 keep_divergence: bool = False) -> dict:
    """The stored record of ``spec``; trained (and stored) first when missing, unless ``train_missing`` is False.

    A run whose loss turns NaN or inf raises ``FloatingPointError``. In a sweep that is a result, not a failure:
    with ``keep_divergence`` it is stored as a record with ``metrics["diverged"]`` true, the error message, the
    epochs completed and ``None`` accuracies, so the sweep's table can show it and a re-run does not repeat it."""
    record = _current_record(spec, train_missing)
    if record is not None:
        return record
    if not train_missing:
        raise FileNotFoundError(f"no run record {record_path(spec.id)} for {spec.model} on {spec.dataset} "
                                f"({spec.method}); run with train_missing=True or `python -m kdlib run` to train it")
    with _spec_lock(spec):
        record = load_record(spec.id)  # another process may have trained it while we waited
        if record is not None and not is_stale(record):
            return record
        return _train_and_store(spec, device, progress, keep_divergence=keep_divergence)[0]


def _current_record(spec: RunSpec, train_missing: bool) -> dict | None:
    """The stored record if it was made by the running recipe version. A stale one is an error, or, when missing
    runs may be trained, a warning and a re-training."""
    record = load_record(spec.id)
    if record is None or not is_stale(record):
        return record
    message = (f"run record {record_path(spec.id)} was made by kdlib recipe version {recipe_version(record)}, "
               f"this kdlib is version {RECIPE_VERSION}")
    if not train_missing:
        raise StaleRecordError(f"{message}; re-train it (train_missing=True, or delete the record and "
                               f"`python -m kdlib chapter ...`)")
    warnings.warn(f"{message}; re-training it")
    return None


def current_record(spec: RunSpec) -> dict | None:
    """The spec's record if one made by the running recipe version is stored; None when it must (re-)train."""
    return _current_record(spec, train_missing=True)


class RebuiltModelWarning(UserWarning):
    """A model re-trained from its record (its checkpoint was not in the cache) ends with other metrics than the
    record's: another processor or library build. Pages list these in one line (``rebuilt_note``)."""


# spec id → {"model", "metric", "recorded", "rebuilt"} for every model this process rebuilt with other metrics
REBUILT: dict[str, dict] = {}


def _rebuild_progress(progress: str) -> str:
    """A rebuild is a cache fill, not a result: it shows a progress bar in a terminal and nothing elsewhere, so no
    training log lands in an executed page."""
    return "bar" if progress != "off" and sys.stderr.isatty() else "off"


def rebuilt_note() -> str:
    """One line for a page: which models this execution had to rebuild with other numbers than their records',
    so that the reader knows which of the page's numbers (those computed from these models) come from them."""
    if not REBUILT:
        return ""
    items = "; ".join(f"{run_id} ({entry['model']}: {entry['metric']} {entry['rebuilt']:.4f} rebuilt, "
                      f"{entry['recorded']:.4f} recorded)" for run_id, entry in sorted(REBUILT.items()))
    return (f"Rebuilt on this machine from their records, with other numbers than the records': {items}. The "
            f"numbers this page computes from these models themselves (their logits, samples and the runs trained "
            f"from them in this execution) come from the rebuilt models; the records' numbers are shown as stored.")


def load_model(spec: RunSpec, device=None, progress: str = "auto") -> torch.nn.Module:
    """The trained model of ``spec`` from the cache; re-trained deterministically when the checkpoint is missing
    or unreadable."""
    path = checkpoint_path(spec)
    stored = load_record(spec.id)
    if stored is not None and stored["metrics"].get("diverged"):
        raise ValueError(f"run {spec.id} diverged ({stored['metrics']['error']}); it has no model to load")
    dataset = data_module.load(spec.dataset)
    if path.exists():
        model = build_model(spec.model, tuple(dataset.train_images.shape[1:]), dataset.n_classes)
        try:
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            return model.eval()
        except Exception as error:  # noqa: BLE001 - any unreadable checkpoint is rebuilt, never trusted
            warnings.warn(f"checkpoint {path} is unreadable ({type(error).__name__}); re-training {spec.id}")
            path.unlink()
    with _record_threads(stored):
        record, model = _train_and_store(spec, device, _rebuild_progress(progress), write=False)
    key = "test_acc" if "test_acc" in record["metrics"] else "generator_loss"  # a generator run has no accuracy
    if stored is not None and stored["metrics"][key] != record["metrics"][key]:
        REBUILT[spec.id] = {"model": spec.model, "metric": key, "recorded": stored["metrics"][key],
                            "rebuilt": record["metrics"][key]}
        warnings.warn(f"re-trained {spec.id} reaches {key} {record['metrics'][key]:.4f}, the "
                      f"record says {stored['metrics'][key]:.4f} (other hardware or library versions?)",
                      RebuiltModelWarning)
    _save_atomic(model.state_dict(), path)
    if stored is None:
        write_json_atomic(record_path(spec.id), record)
    return model


def load_generator(spec: RunSpec, device=None, progress: str = "auto") -> torch.nn.Module:
    """The generator a data-free student learned from: its generator run's (RDSKD), or the one trained alongside it
    (DAFL), re-trained deterministically when the cache lacks it."""
    if spec.generator is not None:
        return load_model(spec.generator, device=device, progress=progress)
    method = get_method(spec.method)
    params = parse_params(spec.method, dict(spec.method_params))
    extras = method.extra_models(params) if method.extra_models else {}
    if "generator" not in extras:
        raise ValueError(f"run {spec.id} ({spec.method}) has no generator; only 'dafl' and 'rdskd' students do")
    path = extra_path(spec, "generator")
    if not path.exists():
        with _record_threads(load_record(spec.id)):
            _train_and_store(spec, device, _rebuild_progress(progress), write=False)  # leaves it in the cache
    dataset = data_module.load(spec.dataset)
    generator = build_model(extras["generator"], dataset.image_shape, dataset.n_classes)
    generator.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return generator


def teacher_train_logits(spec: RunSpec, device=None, progress: str = "auto") -> torch.Tensor:
    """The teacher's logits on its training images, un-augmented, cached on disk.

    One row per image of the original training set; rows the teacher did not train on (validation images, or
    beyond a smoke subset) are NaN, so a student that read them would stop with a non-finite loss.
    """
    path = logits_path(spec)
    if path.exists():
        try:
            return torch.load(path, weights_only=True)
        except Exception as error:  # noqa: BLE001 - an unreadable cache file is rebuilt, never trusted
            warnings.warn(f"teacher logits {path} are unreadable ({type(error).__name__}); recomputing them")
            path.unlink()
    device = pick_device(device)
    dataset = data_module.load(spec.dataset)
    train_idx, _ = split_indices(len(dataset.train_images), spec.val_size, spec.subset, spec.train_size)
    model = load_model(spec, device, progress).to(device)
    logits = torch.full((len(dataset.train_images), dataset.n_classes), float("nan"))
    logits[train_idx] = predict_logits(model, dataset.train_images[train_idx], dataset, device)
    _save_atomic(logits, path)
    return logits


@contextlib.contextmanager
def _record_threads(record: dict | None):
    """Run with the CPU thread count a record was made with: CPU kernels sum in thread-sized chunks, so another
    count changes the last digits (and a re-built teacher would differ from the one its students learned from)."""
    threads = torch.get_num_threads()
    wanted = (record or {}).get("provenance", {}).get("threads")
    torch.set_num_threads(wanted or threads)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
