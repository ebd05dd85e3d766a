"""The run store: a frozen spec per run, hashed to an id; one JSON record per id under ``results/``.

Every number in the book is read from such a record, and ``python -m kdlib reproduce ID`` re-runs the spec to check
it. Records are small and committed. Teacher checkpoints and teacher logits are large, so they live in the cache
folder (``KDLIB_CACHE``) and are rebuilt from the teacher's spec when missing: same spec, same seed, same weights.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import fcntl
import functools
import hashlib
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

import kdlib.train
from kdlib import data as data_module
from kdlib.data import AUGMENTATIONS, DATASETS, split_indices
from kdlib.methods import get_method, parse_params
from kdlib.models import MODELS, build_model, model_kind
from kdlib.paths import cache_dir, project_root, results_dir
from kdlib.optim import OPTIMIZERS, SCHEDULES
from kdlib.train import pick_device, predict_logits

# Bump when a change to kdlib alters what an existing spec trains (the trainer, a loss, a model, the data pipeline).
# Records made under another version are stale: they are reported, never shown as if they were current.
RECIPE_VERSION = 1

KIND_WORDS = {"classifier": "a plain classifier", "pair": "a light net and booster pair (a rocket_* model)",
              "exits": "a network with exits (a *_sd_* model)", "generator": "a generator (a dafl_generator_* model)"}


@dataclass(frozen=True)
class RunSpec:
    """Everything that decides a run's outcome. Two specs with the same fields share one id and one record.

    ``teacher`` is the full spec of the teacher run, so a student's id changes whenever its teacher's does.
    ``extra_teachers`` (specs of further teachers, e.g. other seeds) make each training row learn from one teacher
    drawn at random; left empty, the field is not part of the id, so older records keep theirs.
    ``stop_step`` stops training after that many optimiser steps of the schedule ``epochs`` describes: a checkpoint
    of a longer run, e.g. a poorly trained teacher. Left None, it is not part of the id either.
    ``init_from_teacher`` starts the model from its teacher's weights wherever names and shapes match (Rocket
    Launching without joint training); part of the id only when true.
    ``generator`` is the spec of a generator run (RDSKD's first stage) whose frozen generator makes the images a
    data-free student learns from; left None, it is not part of the id.
    ``omit_classes`` leaves every training image of those classes out of the run's training set (Hinton et al.'s
    transfer set without the digit 3); validation and test keep them, and the record adds ``bias_sweep``. Left
    empty, it is not part of the id.
    ``train_size`` trains on that many images of the training split, drawn after the validation split is carved:
    validation is the same ``val_size`` images whatever the training size, and test is always the whole test set.
    It replaces ``subset``, the first edition's protocol, which also cut validation to a quarter of it and the test
    set to its first ``subset`` images; left None, it is not part of the id.
    ``eval_every`` validates every that many epochs (and at the end) and tests once, at the end, instead of both
    after every epoch (the first edition's protocol, which spent up to half of a small run evaluating): the reported
    model is the last epoch's. Left None, it is not part of the id.
    """

    dataset: str
    model: str
    method: str = "ce"
    method_params: tuple = ()
    teacher: "RunSpec | None" = None
    epochs: int = 10
    seed: int = 0
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128
    schedule: str = "cosine"
    augment: str = "none"
    val_size: int = 5000
    subset: int | None = None
    extra_teachers: tuple = ()
    stop_step: int | None = None
    init_from_teacher: bool = False
    generator: "RunSpec | None" = None
    omit_classes: tuple = ()
    train_size: int | None = None
    eval_every: int | None = None

    def __post_init__(self):
        method = get_method(self.method)
        canonical = method.params.canonical(dict(self.method_params))
        object.__setattr__(self, "method_params", tuple(sorted(canonical.items())))
        for name, value, allowed in (("dataset", self.dataset, DATASETS), ("model", self.model, tuple(MODELS)),
                                     ("optimizer", self.optimizer, OPTIMIZERS), ("schedule", self.schedule, SCHEDULES),
                                     ("augment", self.augment, AUGMENTATIONS)):
            if value not in allowed:
                raise ValueError(f"unknown {name} {value!r}; choose one of: {', '.join(allowed)}")
        if (self.optimizer == "hinton2012") != (self.schedule == "hinton2012"):
            raise ValueError("optimizer 'hinton2012' and schedule 'hinton2012' are one recipe (Hinton et al. 2012's "
                             "update, momentum ramp and learning-rate decay): set both or neither")
        if self.optimizer == "hinton2012" and not 0.5 <= self.momentum < 1:
            raise ValueError(f"the hinton2012 recipe ramps momentum from 0.5 up to momentum=, so it must lie in "
                             f"[0.5, 1) (the paper's is 0.99); got {self.momentum}")
        if self.optimizer == "hinton2012" and self.weight_decay:
            raise ValueError("the hinton2012 recipe regularises by a max-norm bound, not weight decay; "
                             f"set weight_decay=0 (got {self.weight_decay})")
        parse_params(self.method, canonical, data_module.n_classes(self.dataset))
        if method.needs_teacher and self.teacher is None:
            raise ValueError(f"method {self.method!r} needs a teacher spec (teacher=RunSpec(...))")
        if not method.needs_teacher and self.teacher is not None:
            raise ValueError(f"method {self.method!r} takes no teacher; drop teacher= or use a distillation method")
        kind = model_kind(self.model)
        if kind != method.model_kind:
            raise ValueError(f"method {self.method!r} and model {self.model!r} do not fit: the method trains "
                             f"{KIND_WORDS[method.model_kind]}, and {self.model!r} is {KIND_WORDS[kind]}")
        object.__setattr__(self, "extra_teachers", tuple(self.extra_teachers))
        if self.init_from_teacher and self.teacher is None:
            raise ValueError("init_from_teacher needs a teacher (teacher=RunSpec(...)) to copy weights from")
        if self.extra_teachers and self.teacher is None:
            raise ValueError("extra_teachers need a first teacher (teacher=RunSpec(...))")
        if self.extra_teachers and self.augment != "none":
            raise ValueError("several teachers are read from cached logits of un-augmented images; "
                             f"use augment='none' (got {self.augment!r})")
        if self.generator is not None and not isinstance(self.generator, RunSpec):
            raise ValueError(f"generator must be the RunSpec of a generator run, got {type(self.generator).__name__}")
        if (self.generator is not None) != method.takes_generator:
            raise ValueError(f"method {self.method!r} " + ("needs a frozen generator, the spec of its generator run "
                                                           "(generator=RunSpec(...); on the command line --generator ID)"
                                                           if method.takes_generator else
                                                           "trains on no frozen generator; drop generator="))
        if not method.reads_training_images and self.val_size != 0:
            raise ValueError(f"method {self.method!r} is data-free: it may not validate on training images; "
                             f"set val_size=0 (got {self.val_size})")
        if method.check_spec is not None:
            method.check_spec(self)
        for teacher in ([self.teacher] if self.teacher else []) + list(self.extra_teachers):
            if not isinstance(teacher, RunSpec):
                raise ValueError(f"a teacher must be a RunSpec, got {type(teacher).__name__}")
            if not method.reads_training_images and teacher.dataset == self.dataset:
                continue  # a data-free run reads no training image, so the teacher's split cannot leak into it
            if (teacher.dataset, teacher.subset, teacher.val_size) != (self.dataset, self.subset, self.val_size):
                raise ValueError("a teacher must be trained on the same dataset, subset and validation split as "
                                 "its student, or its soft targets would leak held-out images")
            if self.train_size is not None and teacher.train_size is not None and teacher.train_size < self.train_size:
                raise ValueError(f"a teacher trained on {teacher.train_size} images cannot label a student's "
                                 f"{self.train_size}: give the teacher at least the student's train_size")
        for name, value, low in (("epochs", self.epochs, 1), ("batch_size", self.batch_size, 1),
                                 ("seed", self.seed, 0), ("val_size", self.val_size, 0)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if self.train_size is not None and self.subset is not None:
            raise ValueError("train_size and subset are two protocols for a smaller training set; use train_size "
                             "(subset, the first edition's, also cuts validation and test)")
        for name, value in (("subset", self.subset), ("stop_step", self.stop_step), ("train_size", self.train_size),
                            ("eval_every", self.eval_every)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
        classes = data_module.n_classes(self.dataset)
        omitted = tuple(self.omit_classes)
        if any(isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < classes for c in omitted) \
                or len(set(omitted)) != len(omitted) or len(omitted) >= classes:
            raise ValueError(f"omit_classes must be distinct class indices in 0..{classes - 1} of {self.dataset}, "
                             f"leaving at least one class to train on; got {self.omit_classes!r}")
        if omitted and not method.reads_training_images:
            raise ValueError(f"method {self.method!r} reads no training image, so it has no class to omit; "
                             "drop omit_classes")
        object.__setattr__(self, "omit_classes", tuple(sorted(omitted)))

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["method_params"] = dict(self.method_params)
        out["teacher"] = self.teacher.to_dict() if self.teacher else None
        if self.extra_teachers:
            out["extra_teachers"] = [teacher.to_dict() for teacher in self.extra_teachers]
        else:
            del out["extra_teachers"]
        if self.stop_step is None:
            del out["stop_step"]
        if not self.init_from_teacher:
            del out["init_from_teacher"]
        if self.generator is None:
            del out["generator"]
        else:
            out["generator"] = self.generator.to_dict()
        if self.omit_classes:
            out["omit_classes"] = list(self.omit_classes)
        else:
            del out["omit_classes"]
        for name in ("train_size", "eval_every"):
            if out[name] is None:
                del out[name]
        return out

    @classmethod
    def from_dict(cls, values: dict) -> "RunSpec":
        values = dict(values)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown RunSpec field(s) {', '.join(unknown)}; fields: {', '.join(sorted(known))}")
        if values.get("teacher"):
            values["teacher"] = cls.from_dict(values["teacher"])
        if values.get("generator"):
            values["generator"] = cls.from_dict(values["generator"])
        values["extra_teachers"] = tuple(cls.from_dict(teacher) for teacher in values.get("extra_teachers") or ())
        values["method_params"] = tuple(dict(values.get("method_params") or {}).items())
        values["omit_classes"] = tuple(values.get("omit_classes") or ())
        return cls(**values)

    @property
    def id(self) -> str:
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    def replace(self, **changes) -> "RunSpec":
        return dataclasses.replace(self, **changes)


def per_seed(student: RunSpec, teacher: RunSpec, seeds) -> list[RunSpec]:
    """Student seed s learning from teacher seed s (the protocol of 2026-12-07), so that the teacher's own variation
    enters every interval; the first edition taught every student seed from the seed-0 teacher."""
    return [student.replace(seed=seed, teacher=teacher.replace(seed=seed)) for seed in seeds]


# --- records ----------------------------------------------------------------------------------------------------

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
    for name, module in result.extras.items():  # e.g. the generator DAFL trained alongside its student
        _save_atomic(module.state_dict(), extra_path(spec, name))
    record = {"id": spec.id, "spec": spec.to_dict(), "metrics": result.metrics, "history": result.history,
              "provenance": provenance(device, time.perf_counter() - started)}
    if write:
        _save_atomic(result.model.state_dict(), checkpoint_path(spec))
        write_json_atomic(record_path(spec.id), record)
        resume_path(spec).unlink(missing_ok=True)
    return record, result.model


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
