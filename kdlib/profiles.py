"""Profiles and knobs: the settings a page or a CLI run is executed with.

A published profile (``smoke`` for CI, ``cpu`` for the book, ``paper`` for the papers' recipes) names a budget per
chapter; a reader may change a chapter's knobs (``KNOBS``: typed, range-checked parameters). A ``Profile`` carries
the name and the checked changes, and ``profile_budget`` applies them. Nothing here reads a record or trains.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass

PROFILES = ("smoke", "cpu", "paper")


@dataclass(frozen=True)
class Profile:
    """A published profile (``name``), with a reader's changes to one chapter's parameters (``changes``: sorted
    (name, value) pairs). Every chapter function takes it where it takes a profile's name; the changes apply only
    to the budgets of ``chapter`` (and of the chapters it shares its budget with), so the other chapters of the
    ledger a page computes stay at the published profile."""

    name: str
    chapter: str = ""
    changes: tuple = ()

    def __str__(self) -> str:
        return self.name

    def describe(self) -> str:
        """``cpu`` or ``cpu with seeds=[0, 1], sigmas=[0.1]``: the setting a page was executed with."""
        return f"{self.name} with " + ", ".join(f"{key}={value}" for key, value in self.shown()) if self.changes \
            else self.name

    def shown(self) -> list[tuple[str, str]]:
        """Each change as (name, value as the reader writes it: ``[0.1, 0.2]``, ``'cifar10'``)."""
        return [(key, _shown(value)) for key, value in self.changes]


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def _shown(value) -> str:
    if value is None:  # the one knob whose value can be None: subset, every training image
        return "'all'"
    return "[" + ", ".join(_shown(item) for item in value) + "]" if isinstance(value, tuple) else \
        (f"{value:.12g}" if isinstance(value, float) else repr(value) if isinstance(value, str) else str(value))


def profile_name(profile) -> str:
    return profile.name if isinstance(profile, Profile) else profile


def profile_budget(budgets: dict, profile, chapters: tuple[str, ...] = (), dataset: str | None = None,
                   prefix: str = "") -> dict:
    """A chapter's budget for ``profile`` (a name or a ``Profile``); an unknown profile names the ones the chapter
    has. ``per_dataset`` entries apply for ``dataset``; a reader's changes (to any of ``chapters``) apply last,
    ``prefix + key`` setting ``key`` (the introduction's ``recipe_seeds`` sets its recipe's ``seeds``)."""
    name = profile_name(profile)
    if name not in budgets:
        raise ValueError(f"unknown profile {name!r}; choose one of: {', '.join(budgets)}")
    budget = dict(budgets[name])
    per_dataset = budget.pop("per_dataset", {})
    if dataset is not None:
        budget.update(per_dataset.get(dataset, {}))
    if isinstance(profile, Profile) and profile.chapter in chapters:
        for key, value in profile.changes:
            if key.startswith(prefix) and key[len(prefix):] in budget:
                budget[key[len(prefix):]] = value
    return budget


@dataclass(frozen=True)
class Knob:
    """One parameter of a chapter page beyond ``profile``, ``train_missing`` and ``device``: the budget entry of the
    same name (None in the parameters cell: the profile's value). ``kind``: ``int``, ``float``, ``ints``
    (distinct, e.g. seeds), ``floats`` (a grid of distinct values), ``name`` or ``names`` (among ``options``),
    ``subset`` (None or an int)."""

    kind: str
    doc: str
    low: float | None = None
    high: float | None = None
    options: tuple = ()

    def allowed(self) -> str:
        span = f" in [{_number(self.low)}, {_number(self.high)}]" if self.low is not None and self.high is not None \
            else ""
        return {"int": f"an integer{span}", "float": f"a number{span}",
                "ints": f"a non-empty list of distinct integers{span}",
                "floats": f"a non-empty list of distinct numbers{span}",
                "name": "one of " + ", ".join(map(repr, self.options)),
                "names": "a non-empty list of distinct names among " + ", ".join(map(repr, self.options)),
                "subset": f"'all' (every training image) or an integer{span}"}[self.kind]

    def parse(self, name: str, value):
        """The value in the form a budget holds (tuples, floats), or a ValueError that names the parameter and
        what it takes."""
        given = value

        def refuse(problem: str):
            raise ValueError(f"parameter {name}={given!r} {problem}; {name} takes {self.allowed()}: {self.doc}")

        def scalar(item, kind: str):
            if kind in ("int", "ints", "subset"):
                if isinstance(item, bool) or not isinstance(item, int):
                    refuse("is not an integer" if kind != "ints" else f"holds {item!r}, not an integer")
            elif kind in ("float", "floats"):
                if isinstance(item, bool) or not isinstance(item, (int, float)) or not math.isfinite(item):
                    refuse("is not a finite number" if kind == "float" else f"holds {item!r}, not a finite number")
                item = float(item)
            else:
                if item not in self.options:
                    refuse("is not allowed" if kind == "name" else f"holds {item!r}, which is not allowed")
                return item
            if (self.low is not None and item < self.low) or (self.high is not None and item > self.high):
                refuse("is out of range" if kind in ("int", "float", "subset") else f"holds {item!r}, out of range")
            return item

        if self.kind == "subset" and value == "all":
            return None  # None in a parameters cell is the profile's value, so every image is "all"
        if self.kind in ("ints", "floats", "names"):
            if isinstance(value, str):  # papermill's -p passes "[0, 1]" as text
                try:
                    value = ast.literal_eval(value)
                except (ValueError, SyntaxError):
                    refuse("is not a list")
            if isinstance(value, str) or not isinstance(value, (list, tuple)):
                refuse("is not a list")
            if not value:
                refuse("is empty")
            items = tuple(scalar(item, self.kind) for item in value)
            if len(set(items)) != len(items):
                refuse("repeats a value")
            return items
        return scalar(value, self.kind)


def seeds_knob(doc: str = "the seeds of every seeded row") -> Knob:
    return Knob("ints", doc, 0, 2**31 - 1)


def epochs_knob(doc: str, high: int = 3000) -> Knob:
    return Knob("int", doc, 1, high)


def subset_knob(doc: str = "training images used ('all': every one)") -> Knob:
    return Knob("subset", doc, 100, 1_000_000)


def lr_knob(doc: str = "the initial learning rate (SGD)") -> Knob:
    return Knob("float", doc, 1e-6, 100.0)


BASE_PARAMETERS = {"profile": PROFILES, "train_missing": (True, False), "device": (None, "cpu", "cuda")}


def parse_changes(chapter, values: dict) -> tuple:
    """A reader's values of ``chapter``'s knobs (``chapter.KNOBS``), checked, as a ``Profile``'s changes; None
    means the profile's value. An unknown name lists the parameters the chapter takes."""
    knobs = chapter.KNOBS
    unknown = sorted(set(values) - set(knobs))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)} for chapter {chapter.CHAPTER!r}; it takes: "
                         f"{', '.join([*BASE_PARAMETERS, *knobs])}")
    return tuple(sorted((name, knobs[name].parse(name, value)) for name, value in values.items()
                        if value is not None))


def chapter_profile(chapter, profile: str, changes: dict, train_missing: bool = True) -> Profile:
    """The checked ``Profile`` of a page or a CLI run: the knobs' values, then the chapter's own check of their
    combination (``chapter.check(profile)``, when it has one), then the datasets it would read, before any run
    starts: a dataset whose files are not here is refused while missing runs may be trained."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of: {', '.join(PROFILES)}")
    setting = Profile(profile, chapter.CHAPTER, parse_changes(chapter, changes))
    if setting.changes and hasattr(chapter, "check"):
        chapter.check(setting)
    if train_missing:
        from kdlib import data
        absent = [message for name in chapter.datasets(setting) if (message := data.absent(name))]
        if absent:
            raise ValueError(f"chapter {chapter.CHAPTER!r} at profile {setting.describe()} reads data that is not "
                             f"here; nothing was trained:\n" + "\n".join(absent))
    return setting
