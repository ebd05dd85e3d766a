"""What re-executing a chapter page would train, and roughly how long it would take, before anything trains.

``missing_runs(name, profile, changes)`` goes through the stages a page trains (``kdlib.book.page_stages``: its
own runs and the rest of the claims ledger it computes) as an executor would (``kdlib.executors.waves``), and lists
every run that has no current record, with any missing teacher or generator first. Each is given an estimate from
the wall times of stored records of the same dataset, model and method, scaled by how many training images the run
goes through (epochs × images per epoch, or its optimiser steps × batch when it stops early). For the ``paper``
profile the estimate is also given in GPU-hours, from the records made on a GPU, or says that there is none.

A later stage reads the choices earlier records made on validation, so it can be listed only once those records
exist: such a stage is reported as not yet known, never guessed. ``describe`` turns a plan into the lines that
``python -m kdlib page NAME --dry-run`` prints.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Callable, Iterable

import pandas as pd

from kdlib.methods import get_method, resolve_params
from kdlib.runs import StaleRecordError, is_stale, load_record
from kdlib.spec import RunSpec

# training images of each dataset (before the validation split), as torchvision ships them
TRAIN_IMAGES = {"mnist": 60_000, "fashion_mnist": 60_000, "cifar10": 50_000, "cifar100": 50_000, "svhn": 73_257}
NO_RECORD = "no record to estimate from"
NO_GPU_RECORD = "no GPU record to estimate from"


def images_per_epoch(spec: RunSpec) -> int:
    """How many images one epoch of ``spec`` goes through: its training split (``subset``, or the dataset less its
    validation images), or for a data-free run (which reads no training image) its steps per epoch × batch."""
    method = get_method(spec.method)
    if not method.reads_training_images:
        params = resolve_params(spec.method, dict(spec.method_params))
        return int(params.get("iterations", 1)) * spec.batch_size
    available = TRAIN_IMAGES[spec.dataset] - spec.val_size
    return min(spec.subset, available) if spec.subset else available


def images_seen(spec: RunSpec) -> int:
    """The images a whole run goes through: what its wall time grows with."""
    total = spec.epochs * images_per_epoch(spec)
    return min(total, spec.stop_step * spec.batch_size) if spec.stop_step else total


def on_gpu(record: dict) -> bool:
    return not str(record["provenance"].get("device", "cpu")).startswith("cpu")


@dataclass(frozen=True)
class Estimate:
    """Minutes of one run estimated from ``n`` records; ``basis`` says which (or that there are none)."""
    minutes: float | None
    basis: str
    n: int = 0


# the records a run is compared with, closest first: (what they share with it, the fields that must match)
_LEVELS = (("same dataset, model and method", ("dataset", "model", "method")),
           ("same dataset and model, other methods", ("dataset", "model")),
           ("same model, other datasets", ("model",)))


def estimate(spec: RunSpec, records: Iterable[dict], gpu: bool = False) -> Estimate:
    """The minutes ``spec`` would take, from the median seconds per image of the closest stored records (CPU
    records, or GPU records with ``gpu``) times the images it goes through. Diverged and stale records, and
    records without a wall time, are left out."""
    usable = [r for r in records if on_gpu(r) == gpu and not r["metrics"].get("diverged") and not is_stale(r)
              and r["provenance"].get("wall_time_s")]
    wanted = {"dataset": spec.dataset, "model": spec.model, "method": spec.method}
    for label, keys in _LEVELS:
        similar = [r for r in usable if all(r["spec"][key] == wanted[key] for key in keys)]
        rates = []
        for record in similar:
            try:
                seen = images_seen(RunSpec.from_dict(record["spec"]))
            except (ValueError, KeyError):  # a spec this kdlib can no longer build says nothing about its cost
                continue
            if seen:
                rates.append(record["provenance"]["wall_time_s"] / seen)
        if rates:
            minutes = statistics.median(rates) * images_seen(spec) / 60
            device = "GPU" if gpu else "CPU"
            return Estimate(minutes, f"{len(rates)} {device} record{'s' * (len(rates) != 1)}, {label}", len(rates))
    return Estimate(None, NO_GPU_RECORD if gpu else NO_RECORD)


@dataclass
class Plan:
    """The runs a page would train. ``runs``: one row per run in training order (stage, wave), with ``role``
    "missing" (no record: trained and stored) or "rebuild" (has a record but its model, which a missing run reads,
    is not in the cache: re-trained first, not stored), its estimated minutes on a CPU and, for the paper profile,
    GPU-hours. ``undetermined``: the stages that cannot be listed until earlier records exist."""
    page: str
    profile: str
    runs: pd.DataFrame
    undetermined: list[int] = field(default_factory=list)
    gpu: bool = False

    @property
    def total_minutes(self) -> float:
        """The estimated CPU minutes of the runs that have an estimate (``unestimated`` counts the others)."""
        return float(self.runs["minutes"].dropna().sum()) if len(self.runs) else 0.0

    @property
    def unestimated(self) -> int:
        return int(self.runs["minutes"].isna().sum()) if len(self.runs) else 0

    @property
    def total_gpu_hours(self) -> float | None:
        if not self.gpu or not len(self.runs) or self.runs["gpu_hours"].isna().all():
            return None
        return float(self.runs["gpu_hours"].dropna().sum())

    def describe(self) -> str:
        return describe(self)


COLUMNS = ["stage", "wave", "id", "role", "dataset", "model", "method", "seed", "epochs", "images", "minutes",
           "gpu_hours", "basis"]


def _row(spec: RunSpec, stage: int, wave: int, role: str, records: list[dict], gpu: bool) -> dict:
    cpu = estimate(spec, records)
    row = {"stage": stage, "wave": wave, "id": spec.id, "role": role, "dataset": spec.dataset, "model": spec.model,
           "method": spec.method, "seed": spec.seed, "epochs": spec.epochs, "images": images_seen(spec),
           "minutes": cpu.minutes, "gpu_hours": None, "basis": cpu.basis}
    if gpu:
        on_card = estimate(spec, records, gpu=True)
        row["gpu_hours"] = None if on_card.minutes is None else on_card.minutes / 60
        row["basis"] = f"{cpu.basis}; {on_card.basis}"
    return row


def _has_current_record(spec: RunSpec) -> bool:
    record = load_record(spec.id)
    return record is not None and not is_stale(record)


def _in_cache(spec: RunSpec) -> bool:
    from kdlib.runs import checkpoint_path
    return checkpoint_path(spec).exists()


def plan_stages(stages: Iterable[Callable[[], Iterable[RunSpec]]], records: list[dict] | None = None,
                has_record: Callable[[RunSpec], bool] | None = None, in_cache: Callable[[RunSpec], bool] | None = None,
                gpu: bool = False, page: str = "", profile: str = "") -> Plan:
    """The plan of ``stages`` (functions returning specs, as ``kdlib.executors.run_stages`` takes them): each
    stage's runs without a record, in the waves an executor trains them, a run listed once however many stages
    name it. A stage whose specs read records that do not exist yet (``FileNotFoundError``, or a stale record) is
    reported in ``undetermined``, and so is every stage after it. ``records`` (default: the store's) give the
    estimates."""
    from kdlib.executors import prerequisites, waves
    from kdlib.runs import all_records
    records = all_records() if records is None else records
    has_record = has_record or _has_current_record
    in_cache = in_cache or _in_cache
    rows, listed, undetermined = [], set(), []
    for number, stage in enumerate(stages, 1):
        if undetermined:
            undetermined.append(number)
            continue
        try:
            specs = list(stage())
        except (FileNotFoundError, StaleRecordError):
            undetermined.append(number)
            continue
        for wave_number, wave in enumerate(waves(specs, has_record), 1):
            for spec in wave:
                if spec.id in listed:
                    continue
                for needed in prerequisites(spec):
                    if needed.id not in listed and has_record(needed) and not in_cache(needed):
                        rows.append(_row(needed, number, wave_number, "rebuild", records, gpu))
                        listed.add(needed.id)
                rows.append(_row(spec, number, wave_number, "missing", records, gpu))
                listed.add(spec.id)
    return Plan(page, profile, pd.DataFrame(rows, columns=COLUMNS), undetermined, gpu)


def missing_runs(name: str, profile: str = "cpu", changes: dict | None = None, device: str | None = None,
                 records: list[dict] | None = None) -> Plan:
    """What ``python -m kdlib page NAME --profile PROFILE -p KEY VALUE ...`` would train before executing the page:
    the page's parameters are checked as the page command checks them (an unknown or bad one raises ValueError),
    nothing is trained, and the store is only read. For ``profile="paper"`` every run also gets GPU-hours
    estimated from GPU records (``gpu_hours``; None and a basis of "no GPU record to estimate from" where there is
    none)."""
    from kdlib import book, chapters, profiles
    from kdlib.pages import PAGES, page_stem
    stem = page_stem(name)
    page = next(key for key, value in PAGES.items() if value == stem)
    if page not in chapters.CHAPTERS:
        raise ValueError(f"page {page!r} trains no chapter runs; pages with runs: {', '.join(chapters.CHAPTERS)}")
    chapter = chapters.get_chapter(page)
    setting = profiles.chapter_profile(chapter, profile, dict(changes or {}), train_missing=False)
    return plan_stages(book.page_stages(page, setting, device), records, gpu=setting.name == "paper",
                       page=page, profile=setting.describe())


def _minutes(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "?"
    return f"{value:.1f} min" if value < 120 else f"{value / 60:.1f} h"


def describe(plan: Plan) -> str:
    """The plan as lines a reader checks before anything trains: every run with its estimate and what the
    estimate rests on, then the totals and the stages that cannot be listed yet."""
    lines = [f"page {plan.page} at profile {plan.profile}: {len(plan.runs)} run(s) to train"
             + (" (nothing to train in the stages that can be listed)" if not len(plan.runs) else "")]
    for row in plan.runs.itertuples(index=False):
        gpu = ""
        if plan.gpu:
            gpu = "  ? GPU-h" if row.gpu_hours is None or math.isnan(row.gpu_hours) else f"  {row.gpu_hours:.2f} GPU-h"
        what = "re-train (model not in the cache)" if row.role == "rebuild" else "train"
        lines.append(f"  stage {row.stage} wave {row.wave}  {row.id}  {_minutes(row.minutes):>9}{gpu}  {what}: "
                     f"{row.dataset} {row.model} {row.method} seed {row.seed}, {row.epochs} epochs  [{row.basis}]")
    total = f"  total about {_minutes(plan.total_minutes)} on a CPU at the records' thread counts"
    if plan.unestimated:
        total += f"; {plan.unestimated} run(s) without an estimate ({NO_RECORD})"
    lines.append(total)
    if plan.gpu:
        hours = plan.total_gpu_hours
        lines.append(f"  GPU: {NO_GPU_RECORD}" if hours is None else f"  GPU: about {hours:.1f} GPU-hours")
    if plan.undetermined:
        lines.append(f"  stage(s) {', '.join(map(str, plan.undetermined))} not listed yet: they read the choices "
                     f"that the records of earlier stages make on validation; run the dry run again once those "
                     f"are trained")
    return "\n".join(lines)
