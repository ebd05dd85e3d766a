"""Re-running stored records: ``reproduce`` one, ``verify`` a sample within a time bound.

A re-run is exact only where it can be: on the CPU, with the torch version, processor, vector capability and torch
build that made the record and every model its run read, and (``reproduce`` ensures it) the record's thread count.
There it must match bit for bit. Anywhere else a re-run is a new draw of the same setting, so it is judged against
that setting's own spread: the committed records of the same spec with other seeds give a seed-to-seed standard
deviation ``s`` from ``n`` seeds, and the re-run passes when its difference from the record lies within the two-sided
99 % prediction band for the difference of two draws, ``t(0.995, n - 1) * sqrt(2) * s`` (never narrower than one
evaluation image). With fewer than three seeds there is no spread to speak of, and a stated default is used instead.

``--max-minutes`` bounds the whole command: a record is drawn only if it fits together with the teachers or
generators it needs that are not in the cache (which a re-run must re-train first), at the minutes each took when
recorded.
"""

from __future__ import annotations

import json
import math
import random
import statistics
import time
from dataclasses import dataclass, field

import torch

from kdlib.executors import prerequisites
from kdlib import runs
from kdlib.runs import (REBUILT, _record_threads, _train_and_store, all_records, checkpoint_path, cpu_environment,
                        is_stale, load_record, record_path, recipe_version)
from kdlib.spec import RunSpec
from kdlib.train import pick_device

LEVEL = 0.99  # the prediction band's coverage: a true re-run falls outside it once in a hundred
MIN_SEEDS = 3  # fewer seeds give no usable spread (one degree of freedom: t(0.995, 1) = 64)
# The fallback where a setting has fewer than MIN_SEEDS records. For accuracies: 0.02 (two points), the 90th
# percentile of |difference between two seeds of one setting| over the 452 pairs of the 132 committed settings with
# 3 or more seeds (2026-12-07; the median is 0.0018). For a generator's loss: 0.1, above the largest range of three
# seeds of a committed generator setting (0.06).
DEFAULT_BOUND = {"accuracy": 0.02, "generator_loss": 0.1}
RUN_OVERHEAD_S = 10.0  # loading the data and building the model, on top of a run's recorded wall time
METRICS = ("test_acc", "test_acc_at_best_val", "val_acc", "generator_loss")


def checked_metrics(record: dict) -> list[str]:
    """The metrics a re-run is compared on: those the record holds as finite numbers (no validation split: NaN)."""
    return [key for key in METRICS
            if isinstance(record["metrics"].get(key), float) and math.isfinite(record["metrics"][key])]


def reproduce(spec_id: str, device=None, progress: str = "auto") -> dict:
    """Re-run a stored record's spec (nothing is written) and compare its metrics with the record's.

    The re-run uses the record's CPU thread count: with another count, floating-point sums split differently and
    the last digits drift."""
    stored = load_record(spec_id)
    if stored is None:
        raise FileNotFoundError(f"no run record {record_path(spec_id)}; `python -m kdlib list` shows the stored ids")
    spec = RunSpec.from_dict(stored["spec"])
    with _record_threads(stored):
        fresh, _ = _train_and_store(spec, device, progress, write=False)
    return {key: {"stored": stored["metrics"][key], "rerun": fresh["metrics"][key],
                  "difference": fresh["metrics"][key] - stored["metrics"][key]} for key in checked_metrics(stored)}


# --- exact or statistical ---------------------------------------------------------------------------------------

def environment_difference(record: dict, device=None) -> str:
    """Why a re-run here of this one record may not match it bit for bit, in words; empty when it must: CPU on both
    sides, the same torch, the same processor and torch build (``cpu_environment``). A record or a machine that does
    not name its processor cannot be known to match."""
    stored = record["provenance"]
    if pick_device(device).type != "cpu" or not stored["device"].startswith("cpu"):
        return f"recorded on {stored['device']}, re-run on {pick_device(device).type}"
    if stored["torch"] != torch.__version__:
        return f"recorded with torch {stored['torch']}, re-run with torch {torch.__version__}"
    if not stored.get("cpu"):
        return "the record does not name its processor"
    here = cpu_environment()
    if here["cpu"] is None:
        return "this machine does not name its processor"
    return "; ".join(f"{key} {stored.get(key)} here {here[key]}" for key in here if stored.get(key) != here[key])


def chain_difference(record: dict, records: dict[str, dict], device=None) -> str:
    """``environment_difference`` over the record and every model its run reads (a teacher made elsewhere differs
    from the one re-built here, and so does every student that learns from it); empty when all must match."""
    difference = environment_difference(record, device)
    if difference:
        return difference
    for spec in prerequisites(RunSpec.from_dict(record["spec"])):
        before = records.get(spec.id)
        if before is None:
            return f"its prerequisite {spec.id} has no record"
        difference = chain_difference(before, records, device)
        if difference:
            return f"its prerequisite {spec.id}: {difference}"
    return ""


def setting_key(spec: dict) -> str:
    """What records of one setting share: the whole spec but the run's own seed (its teacher's seed stays)."""
    return json.dumps({key: value for key, value in spec.items() if key != "seed"}, sort_keys=True)


def _resolution(record: dict, metric: str) -> float:
    """One evaluation image, as a fraction: the narrowest difference an accuracy can show."""
    if metric == "generator_loss":
        return 0.0
    images = record["spec"].get("val_size") if metric == "val_acc" else record["metrics"].get("n_test")
    return 1.0 / images if images else 0.0


def band(record: dict, metric: str, siblings: list[dict], default_bound: float | None = None) -> tuple[float, str]:
    """The bound on |re-run − record| for one metric of ``record``, and where it came from, in words.

    ``siblings`` are the current records of the record's setting (``setting_key``), the record among them."""
    from scipy import stats

    values = [sibling["metrics"][metric] for sibling in siblings
              if isinstance(sibling["metrics"].get(metric), float) and math.isfinite(sibling["metrics"][metric])]
    if len(values) < MIN_SEEDS:
        kind = "generator_loss" if metric == "generator_loss" else "accuracy"
        bound = DEFAULT_BOUND[kind] if default_bound is None or kind != "accuracy" else default_bound
        return bound, (f"default {bound:g}: {len(values)} seed{'s' * (len(values) != 1)} of this setting, "
                       f"fewer than {MIN_SEEDS}")
    spread = statistics.stdev(values)
    quantile = stats.t.ppf(0.5 + LEVEL / 2, len(values) - 1)
    bound = max(quantile * math.sqrt(2) * spread, _resolution(record, metric))
    return bound, (f"{LEVEL:.0%} band for two draws: t({len(values) - 1}) {quantile:.2f} × √2 × sd {spread:.4f} "
                   f"of {len(values)} seeds")


def judge(record: dict, comparison: dict, chain: str, siblings: list[dict],
          default_bound: float | None = None) -> dict:
    """The verdict on one re-run: ``comparison`` is ``reproduce``'s output, ``chain`` is ``chain_difference``'s
    (empty: the re-run must match exactly). Every checked metric is listed with its bound and that bound's basis."""
    checks = []
    for metric, values in comparison.items():
        if chain:
            bound, basis = band(record, metric, siblings, default_bound)
        else:
            bound, basis = 0.0, "exact"
        checks.append({"metric": metric, **values, "bound": bound, "basis": basis,
                       "passed": abs(values["difference"]) <= bound})
    return {"id": record["id"], "model": record["spec"]["model"], "method": record["spec"]["method"],
            "mode": "statistical" if chain else "exact",
            "why": chain or "same processor, capability, torch build and threads as the record and its teachers",
            "outcome": "reproduced" if all(check["passed"] for check in checks) else "differs", "checks": checks}


# --- the time plan ----------------------------------------------------------------------------------------------

@dataclass
class Planned:
    """One record to re-run, and the prerequisites it must re-train first (in training order), each with the
    seconds it took when recorded."""
    record: dict
    seconds: float
    prerequisites: list[tuple[dict, float]] = field(default_factory=list)

    @property
    def total_s(self) -> float:
        return self.seconds + sum(seconds for _, seconds in self.prerequisites)


def _cost(record: dict) -> float:
    return record["provenance"]["wall_time_s"] + RUN_OVERHEAD_S


def chain(record: dict, records: dict[str, dict], planned: set[str], in_cache=None) -> list[tuple[dict, float]]:
    """The prerequisites ``record``'s re-run must train first: those whose checkpoint is not in the cache and that
    no earlier planned re-run trains, with their own missing prerequisites before them. Raises ``LookupError`` when
    one has no record (its time is unknown, and training it would write a record)."""
    in_cache = in_cache or (lambda spec: checkpoint_path(spec).exists())
    out: list[tuple[dict, float]] = []
    for spec in prerequisites(RunSpec.from_dict(record["spec"])):
        if spec.id in planned or in_cache(spec):
            continue
        before = records.get(spec.id)
        if before is None or before["metrics"].get("diverged"):
            raise LookupError(f"its prerequisite {spec.id} ({spec.model}, {spec.method}) has no usable record")
        out += chain(before, records, planned | {item["id"] for item, _ in out}, in_cache)
        out.append((before, _cost(before)))
        planned = planned | {spec.id}
    return out


def plan(ids: list[str] | None = None, sample: int = 3, seed: int = 0, max_minutes: float | None = None,
         records: dict[str, dict] | None = None, in_cache=None) -> list[Planned]:
    """What ``verify`` will re-run. ``ids`` names the records (a ``ValueError`` if their chains together exceed
    ``max_minutes``); otherwise records are drawn at random (``seed``) and kept while their chain, less what earlier
    draws already re-train, fits in the minutes left, until ``sample`` are kept. Diverged and stale records are never
    drawn (a named stale one is reported as stale, not re-run)."""
    records = records if records is not None else {record["id"]: record for record in all_records()}
    budget = math.inf if max_minutes is None else 60 * max_minutes
    if ids:
        unknown = [run_id for run_id in ids if run_id not in records or records[run_id]["metrics"].get("diverged")]
        if unknown:
            raise FileNotFoundError(f"no (non-diverged) run record {', '.join(unknown)}; "
                                    f"`python -m kdlib list` shows the stored ids")
        candidates = [records[run_id] for run_id in ids]
    else:
        pool = sorted((record for record in records.values()
                       if not record["metrics"].get("diverged") and not is_stale(record)), key=lambda r: r["id"])
        candidates = random.Random(seed).sample(pool, len(pool))
    chosen: list[Planned] = []
    trained: set[str] = set()
    for record in candidates:
        if len(chosen) == (len(ids) if ids else sample):
            break
        if is_stale(record):  # only when named: reported, never re-run
            chosen.append(Planned(record, 0.0))
            continue
        try:
            entry = Planned(record, _cost(record), chain(record, records, trained, in_cache))
        except LookupError as error:
            if ids:
                raise ValueError(f"cannot re-run {record['id']}: {error}") from None
            continue
        used = sum(item.total_s for item in chosen)
        if used + entry.total_s > budget:
            if ids:
                raise ValueError(
                    f"the named records need {(used + entry.total_s) / 60:.1f} minutes at their recorded times "
                    f"({record['id']} alone {entry.total_s / 60:.1f}, its prerequisites included), more than "
                    f"--max-minutes {max_minutes:g}; raise --max-minutes or name fewer records")
            continue
        chosen.append(entry)
        trained |= {item["id"] for item, _ in entry.prerequisites}
    return chosen


def describe_plan(entries: list[Planned], max_minutes: float | None) -> str:
    """The plan in lines a reader can check before anything trains: every re-run and prerequisite, with minutes."""
    lines = [f"re-running {len(entries)} record{'s' * (len(entries) != 1)} (minutes as recorded; "
             f"a run's overhead of {RUN_OVERHEAD_S:g} s included):"]
    for entry in entries:
        for before, seconds in entry.prerequisites:
            lines.append(f"  {before['id']}  {seconds / 60:6.1f} min  prerequisite: {before['spec']['model']} "
                         f"{before['spec']['method']} (not in the cache: re-trained first)")
        spec = entry.record["spec"]
        what = "stale: not re-run" if is_stale(entry.record) else f"{entry.seconds / 60:6.1f} min"
        lines.append(f"  {entry.record['id']}  {what}  {spec['dataset']} {spec['model']} {spec['method']} "
                     f"seed {spec['seed']}")
    total = sum(entry.total_s for entry in entries) / 60
    lines.append(f"  total {total:.1f} min" + (f" of the {max_minutes:g} allowed" if max_minutes else ""))
    return "\n".join(lines)


# --- verify -----------------------------------------------------------------------------------------------------

def verify(entries: list[Planned], max_minutes: float | None = None, default_bound: float | None = None,
           device=None, progress: str = "off"):
    """Re-run each planned record and yield its verdict (``judge``), as each finishes. A record whose chain no
    longer fits in what is left of ``max_minutes``, at the pace this machine has shown so far against the recorded
    times (when it is slower than the recording ones), is not started: its row says so."""
    records = {record["id"]: record for record in all_records()}
    settings: dict[str, list[dict]] = {}
    for record in records.values():
        if not record["metrics"].get("diverged") and not is_stale(record):
            settings.setdefault(setting_key(record["spec"]), []).append(record)
    started = time.perf_counter()
    spent = recorded = 0.0
    slower = 1.0  # how much slower than recorded this machine has re-run so far (never assumed faster)
    for entry in entries:
        record = entry.record
        row = {"id": record["id"], "model": record["spec"]["model"], "method": record["spec"]["method"],
               "checks": []}
        if is_stale(record):
            yield {**row, "mode": "–", "outcome": "stale",
                   "why": f"recipe version {recipe_version(record)}, kdlib is {runs.RECIPE_VERSION}"}
            continue
        elapsed = time.perf_counter() - started
        if max_minutes is not None and elapsed + slower * entry.total_s > 60 * max_minutes:
            yield {**row, "mode": "–", "outcome": "not run",
                   "why": f"{elapsed / 60:.1f} minutes used, {slower * entry.total_s / 60:.1f} more needed at this "
                          f"machine's pace ({slower:.2f} × recorded): over the bound"}
            continue
        rebuilt_before = set(REBUILT)
        clock = time.perf_counter()
        try:
            comparison = reproduce(record["id"], device=device, progress=progress)
        except FloatingPointError as error:
            yield {**row, "mode": "–", "outcome": "differs", "why": f"the re-run diverged ({error})"}
            continue
        verdict = judge(record, comparison, chain_difference(record, records, device),
                        settings.get(setting_key(record["spec"]), [record]), default_bound)
        verdict["seconds"] = {"rerun": time.perf_counter() - clock, "recorded": entry.total_s}
        spent += verdict["seconds"]["rerun"]
        recorded += entry.total_s
        slower = max(1.0, spent / recorded)
        rebuilt = sorted(set(REBUILT) - rebuilt_before)
        if rebuilt and verdict["mode"] == "statistical":
            verdict["why"] += (f"; its teacher {', '.join(rebuilt)} was re-built here with other numbers, so the "
                               f"band (students of one teacher) leaves out the teacher's own variation")
        yield verdict


def format_row(row: dict) -> str:
    """One record's report: its verdict, whether it was held exact or statistical and why, and per metric the
    difference, the bound and the bound's basis."""
    lines = [f"{row['id']}  {row['model']:<18} {row['method']:<16} {row['outcome']:<10} {row['mode']}: {row['why']}"]
    for check in row["checks"]:
        lines.append(f"    {check['metric']:<21} {check['stored']:.4f} → {check['rerun']:.4f}  difference "
                     f"{check['difference']:+.4f}  bound ±{check['bound']:.4f} ({check['basis']})"
                     + ("" if check["passed"] else "  OUTSIDE"))
    if "seconds" in row:
        lines.append(f"    re-run in {row['seconds']['rerun'] / 60:.1f} min, prerequisites included "
                     f"(planned {row['seconds']['recorded'] / 60:.1f} min)")
    return "\n".join(lines)
