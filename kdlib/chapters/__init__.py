"""The chapters: one module per paper (what it trains, its claims, its tables), plus the introduction and synthesis.

A chapter's runs are declared as ``stages`` so that an executor (``kdlib.executors``) can train them first
(``python -m kdlib chapter introduction --profile cpu``, ``python -m kdlib page ...``); its notebook then only loads
records through ``kdlib.book``. Each chapter's ``KNOBS`` (``kdlib.profiles``) are the page parameters beyond
``profile``, ``train_missing`` and ``device``.
"""

from __future__ import annotations

import importlib
import pkgutil
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


def best_on_validation(scores: dict):
    """The key with the highest final validation accuracy; a run that diverged (None) comes last and a tie goes to
    the first key, so a grid's order decides between equal runs, never the test set."""
    keys = list(scores)
    return max(keys, key=lambda key: (scores[key] is not None, scores[key] or 0.0, -keys.index(key)))
