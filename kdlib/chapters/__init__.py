"""What each chapter trains, per profile, and the check of a notebook's parameters.

A chapter notebook holds the narrative; its runs are declared here so that the CLI can train them in the background
(``python -m kdlib chapter introduction --profile cpu``) and the notebook then only loads the records.
"""

from __future__ import annotations

import importlib

CHAPTERS = ("introduction", "noisy_teachers", "rocket_launching", "teacher_free", "self_distillation", "data_free",
            "synthesis")
PROFILES = ("smoke", "cpu", "paper")


def get_chapter(name: str):
    if name not in CHAPTERS:
        raise ValueError(f"unknown chapter {name!r}; chapters: {', '.join(CHAPTERS)}")
    return importlib.import_module(f"kdlib.chapters.{name}")


def profile_budget(budgets: dict, profile: str) -> dict:
    """A chapter's budget for ``profile``; an unknown profile names the ones the chapter has."""
    if profile not in budgets:
        raise ValueError(f"unknown profile {profile!r}; choose one of: {', '.join(budgets)}")
    return budgets[profile]


def best_on_validation(scores: dict):
    """The key with the highest final validation accuracy; a run that diverged (None) comes last and a tie goes to
    the first key, so a grid's order decides between equal runs, never the test set."""
    keys = list(scores)
    return max(keys, key=lambda key: (scores[key] is not None, scores[key] or 0.0, -keys.index(key)))


def forward_and_backward(stages: list) -> dict:
    """Two groups for two processes that share a chapter's runs: each walks the stages in order (a stage is a
    function returning its specs, called only when the one before has been trained), one front to back, the other
    back to front; the per-run lock in the run store stops them training the same run twice."""
    def walk(reverse: bool):
        for stage in stages:
            specs = list(stage())
            yield from (specs[::-1] if reverse else specs)

    return {"forward": walk(False), "backward": walk(True)}


def configure(namespace: dict, names_before: set[str], allowed: dict[str, tuple]) -> dict:
    """Check the parameters a notebook received, before it trains anything, and set the page up: the smoke
    profile's own store, and rebuilt models reported in one line at the end (``runs.rebuilt_note``) rather than as
    warnings under whichever cell loaded them.

    papermill only warns about a parameter the notebook does not declare and accepts any value; a typo would then
    silently run the default. ``names_before`` is the set of global names just before the parameters cell; every new
    public name since then is a parameter. Returns the parameters as a dict.
    """
    received = {name: namespace[name] for name in set(namespace) - set(names_before)
                if not name.startswith("_") and name not in ("In", "Out", "get_ipython", "exit", "quit")}
    unknown = sorted(set(received) - set(allowed))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; this chapter takes: {', '.join(allowed)}")
    for name, choices in allowed.items():
        if name not in received:
            raise ValueError(f"parameter {name!r} is missing from the parameters cell")
        value = received[name]
        if not any(value is choice or (type(value) is type(choice) and value == choice) for choice in choices):
            raise ValueError(f"parameter {name}={value!r} is not allowed; choose one of: "
                             f"{', '.join(repr(c) for c in choices)}")
    if "profile" in received:
        from kdlib.paths import use_profile
        use_profile(received["profile"])
    import warnings

    from kdlib.runs import RebuiltModelWarning
    warnings.simplefilter("ignore", RebuiltModelWarning)  # a page says it in one line instead (runs.rebuilt_note)
    return received


CLAIM_CHAPTERS = ("introduction", "noisy_teachers", "rocket_launching", "teacher_free", "self_distillation", "data_free")


def ledger(profile: str, train_missing: bool = True, device=None, chapters: tuple[str, ...] = CLAIM_CHAPTERS):
    """Every claim of the book at ``profile``, from each chapter's ``claims(results(...))``, with Holm's correction
    across all of them: the one family every page's verdicts come from (a chapter page filters it)."""
    from kdlib import claims

    found = []
    for name in chapters:
        chapter = get_chapter(name)
        found += chapter.claims(chapter.results(profile, train_missing, device))
    return claims.adjust(found)
