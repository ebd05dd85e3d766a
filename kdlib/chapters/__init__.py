"""The chapters: one module per paper (what it trains, its claims, its tables), plus the introduction and synthesis.

A chapter's runs are declared as ``stages`` so that an executor (``kdlib.executors``) can train them first
(``python -m kdlib chapter introduction --profile cpu``, ``python -m kdlib page ...``); its notebook then only loads
records through ``kdlib.book``. Each chapter's ``KNOBS`` (``kdlib.profiles``) are the page parameters beyond
``profile``, ``train_missing`` and ``device``.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache


@cache
def chapter_pages() -> dict[str, str]:
    """Every chapter module here (one that defines ``CHAPTER`` and ``PAGE``), name → notebook stem, in page order:
    the book's one list of chapters, so a new chapter is its module, its notebook and a line of ``_toc.yml``."""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "CHAPTER") and hasattr(module, "PAGE"):
            found[module.CHAPTER] = module.PAGE
    return dict(sorted(found.items(), key=lambda item: item[1]))


def __getattr__(name: str):
    # CHAPTERS (every chapter) and CLAIM_CHAPTERS (those with claims: the book's ledger), read from the modules
    if name == "CHAPTERS":
        return tuple(chapter_pages())
    if name == "CLAIM_CHAPTERS":
        return tuple(chapter for chapter in chapter_pages() if callable(getattr(get_chapter(chapter), "claims", None)))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_chapter(name: str):
    if name not in chapter_pages():
        raise ValueError(f"unknown chapter {name!r}; chapters: {', '.join(chapter_pages())}")
    return importlib.import_module(f"kdlib.chapters.{name}")


def records_read(profile) -> list[dict]:
    """Every run record the book reads at ``profile``: each chapter's results and pilots, and the teachers and
    generators they were trained from, however deep, each once (what a cold rebuild would re-train). A missing
    record is an error, as it is for the page that reads it."""
    from kdlib import report
    from kdlib.runs import get_or_train
    from kdlib.spec import RunSpec

    found: dict[str, dict] = {}
    for name in chapter_pages():
        module = get_chapter(name)
        for record in report.records_in([module.results(profile, train_missing=False),
                                         getattr(module, "testbed_overview", lambda profile: [])(profile)]):
            found.setdefault(record["id"], record)
    queue = list(found.values())
    while queue:
        spec = RunSpec.from_dict(queue.pop()["spec"])
        for needed in (spec.teacher, spec.generator, *spec.extra_teachers):
            if needed is not None and needed.id not in found:
                found[needed.id] = get_or_train(needed, train_missing=False)
                queue.append(found[needed.id])
    return list(found.values())


def pilot_spread(values) -> float:
    """The sample sd of a pilot row's finite values, which plans a main table's seeds; a row with fewer than two (a
    run diverged or is missing) cannot plan them."""
    import numpy as np

    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if len(finite) < 2:
        raise ValueError("a pilot row has fewer than two finite values (a run diverged or is missing): its spread "
                         "cannot plan the seeds; re-run the pilot row or plan from another estimate")
    return float(np.std(finite, ddof=1))


def best_on_validation(scores: dict):
    """The key with the highest final validation accuracy; a run that diverged (None) comes last and a tie goes to
    the first key, so a grid's order decides between equal runs, never the test set."""
    keys = list(scores)
    return max(keys, key=lambda key: (scores[key] is not None, scores[key] or 0.0, -keys.index(key)))


@dataclass(frozen=True)
class Testbed:
    """One candidate setting of a chapter's pilot (``tried_in_order``): the training images every model sees, the
    budget, the evaluation cadence (validation every ``eval_every`` epochs, test once at the end) and the
    augmentation (with it, a teacher labels the same augmented batch its student sees)."""

    name: str
    why: str
    train_size: int
    epochs: int
    eval_every: int
    augment: str = "none"
    dataset: str = "fashion_mnist"
    val_size: int = 5000


def read_gates(checks) -> dict:
    """A pilot's gates read on its records: ``checks`` are (gate, better records, baseline records) triples. Returns,
    per gate name, its difference in points (passed or not), whether it passed and, if not, the refusal message
    (``kdlib.claims.Gate.check``), and ``go``: whether every gate passed."""
    from kdlib.claims import GateFailed
    gates = {}
    for gate, better, baseline in checks:
        gates[gate.name] = {"difference": gate.difference(better, baseline), "passed": True}
        try:
            gate.check(better, baseline)
        except GateFailed as failed:
            gates[gate.name].update(passed=False, message=str(failed))
    return {"gates": gates, "go": all(gate["passed"] for gate in gates.values())}


def tried_in_order(testbeds, read, gate_outcome) -> list[tuple]:
    """A chapter's pilot testbeds in the order they were tried, each with its records (``read(testbed)``), up to the
    first whose gates passed (``gate_outcome(records)["go"]``); the fallbacks after it, never trained, come with
    None."""
    out, passed = [], False
    for testbed in testbeds:
        found = None if passed else read(testbed)
        passed = passed or gate_outcome(found)["go"]
        out.append((testbed, found))
    return out


def cpu_pilots(profile, testbeds, read, gate_outcome) -> list[tuple]:
    """``tried_in_order`` for a chapter whose pilots are this book's cpu testbeds: other profiles show none."""
    from kdlib.profiles import profile_name

    return tried_in_order(testbeds, read, gate_outcome) if profile_name(profile) == "cpu" else []


def walked(overview: list[tuple], gate_outcome) -> tuple[list[str], str]:
    """The names of the testbeds piloted, in order, and the one whose gates passed ("none" if none did)."""
    tried = [testbed.name for testbed, found in overview if found is not None]
    chosen = next((testbed.name for testbed, found in overview if found is not None and gate_outcome(found)["go"]),
                  "none")
    return tried, chosen


def testbed_table(overview: list[tuple], gate_outcome, columns: list[tuple]):
    """One row per testbed tried: its data, each gate's difference on validation (points, seed means at the settings
    chosen on seed 0) under the column ``columns`` names for it ((gate, "better − baseline") pairs), the outcome."""
    import pandas as pd

    rows = []
    for testbed, found in overview:
        row = {"testbed": testbed.name, "data": testbed.why}
        if found is None:
            row["outcome"] = "not run: an earlier testbed passed"
        else:
            outcome = gate_outcome(found)
            for gate, label in columns:
                row[f"{label} (validation, points; gate ≥ {gate.margin:g})"] = \
                    f"{outcome['gates'][gate.name]['difference']:+.2f}"
            row["outcome"] = "passed: the chapter's testbed" if outcome["go"] else "failed a gate"
        rows.append(row)
    return pd.DataFrame(rows).fillna("–")


# --- a chapter's plan: what it trains, with validation choices as the one door to earlier records -------------------

class Missing(Exception):
    """A plan reached a choice whose grid has no records yet: ``specs`` are what must train before it can go on."""

    def __init__(self, names: list[str], specs: list):
        super().__init__(f"the choice(s) {', '.join(names)} need runs that have no record yet")
        self.names, self.specs = names, specs


class Choose:
    """The door through which a plan reads earlier results: ``choose(name, grid)`` returns the key of ``grid`` (key →
    spec) whose run ends with the best validation accuracy (``best_on_validation``); ``choose.each({name: grid})``
    makes several independent choices at once, so their grids train together; ``alongside`` lists runs that need no
    choice (a teacher the later rows read) to train in the same stage. ``read(spec)`` gives a spec's record or None;
    a grid with a missing record raises ``Missing`` (the stage boundary)."""

    def __init__(self, read):
        self.read = read

    def each(self, grids: dict, alongside: tuple = ()) -> dict:
        found = {name: {key: self.read(spec) for key, spec in grid.items()} for name, grid in grids.items()}
        missing = [name for name, records in found.items() if any(record is None for record in records.values())]
        if missing:
            raise Missing(missing, [*[spec for name in missing for spec in grids[name].values()], *alongside])
        return {name: best_on_validation({key: record["metrics"].get("val_acc") for key, record in records.items()})
                for name, records in found.items()}

    def __call__(self, name: str, grid: dict):
        return self.each({name: grid})[name]


def specs_in(planned) -> list:
    """Every spec in a plan's output (nested dicts, lists, tuples), each once, in the order met."""
    from kdlib.spec import RunSpec

    out: dict[str, RunSpec] = {}

    def walk(item):
        if isinstance(item, RunSpec):
            out.setdefault(item.id, item)
        elif isinstance(item, dict):
            for value in item.values():
                walk(value)
        elif isinstance(item, (list, tuple)):
            for value in item:
                walk(value)
    walk(planned)
    return list(out.values())


def plan_stages(plan, profile, depth: int = 4) -> list:
    """A chapter's stages, derived from its pure ``plan(profile, choose)``: each stage trains the grids of the first
    choices whose records are missing or, once every choice can be made, all the plan lists. ``depth`` is the
    longest chain of dependent choices the plan makes, plus one (a later stage whose work is done trains nothing).
    A stage that meets a grid an earlier stage already listed, still without records (a dry run, or a grid run that
    failed), raises ``FileNotFoundError``: what it would train cannot be known yet."""
    asked: set[str] = set()

    def stage():
        from kdlib.runs import current_record
        try:
            return specs_in(plan(profile, Choose(current_record)))
        except Missing as missing:
            if set(missing.names) <= asked:
                raise FileNotFoundError(f"this stage follows the choice(s) {', '.join(missing.names)}, whose runs "
                                        f"have no record yet") from None
            asked.update(missing.names)
            return missing.specs
    return [stage] * depth


def load_plan(plan, profile, read) -> dict:
    """A plan's output with every spec replaced by its record (``read(spec)``: load, or train when allowed): the
    choices read and train through the same ``read``, so the results are those of the records the plan chose."""
    from kdlib.spec import RunSpec

    def load(item):
        if isinstance(item, RunSpec):
            return read(item)
        if isinstance(item, dict):
            return {key: load(value) for key, value in item.items()}
        if isinstance(item, list):
            return [load(value) for value in item]
        return item
    return load(plan(profile, Choose(read)))
