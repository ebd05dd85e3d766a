"""The book layer: what a page's kernel needs, computed once per process and served to the notebook.

A chapter notebook holds prose and one call per table or figure; everything else comes from a ``Page``
(``Page.open(globals(), names_before, "noisy_teachers")``): its parameters checked once, the chapter's records read
once (``found``), the book's claims ledger and its multiplicity adjustment computed once (``ledger``), and the
boxes that open and close a page. The CLI uses ``page_stages`` to train what a page reads before it executes.
Nothing below ``kdlib.book`` imports it: it sits on top, beside ``kdlib.cli`` and ``kdlib.pages``.
"""

from __future__ import annotations

import html

from kdlib.chapters import get_chapter
from kdlib.paths import results_dir
from kdlib.profiles import BASE_PARAMETERS, Profile, chapter_profile, profile_name
from kdlib.report import admonition

def _received(namespace: dict, names_before: set[str]) -> dict:
    """The parameters a notebook received: every new public name since ``names_before`` (the global names just
    before its parameters cell), papermill's injected ones included."""
    return {name: namespace[name] for name in set(namespace) - set(names_before)
            if not name.startswith("_") and name not in ("In", "Out", "get_ipython", "exit", "quit")}


def _check_choices(received: dict, allowed: dict[str, tuple]) -> None:
    for name, choices in allowed.items():
        if name not in received:
            raise ValueError(f"parameter {name!r} is missing from the parameters cell")
        value = received[name]
        if not any(value is choice or (type(value) is type(choice) and value == choice) for choice in choices):
            raise ValueError(f"parameter {name}={value!r} is not allowed; choose one of: "
                             f"{', '.join(repr(c) for c in choices)}")


def _set_up_page(profile: str) -> None:
    """The smoke profile's own store, rebuilt models reported in one line at the end of a page
    (``runs.rebuilt_note``) rather than as warnings under whichever cell loaded them, tables that show every
    cell whole (pandas cuts a cell's text at 50 characters with "...": run ids, claims, settings), and figures as
    2× rasters."""
    import warnings

    import pandas as pd

    from kdlib.paths import use_profile
    from kdlib.runs import RebuiltModelWarning
    use_profile(profile)
    warnings.simplefilter("ignore", RebuiltModelWarning)
    pd.set_option("display.max_colwidth", None)
    from IPython import get_ipython
    if get_ipython() is not None:  # in a page's kernel: figures at twice their pixels, sharp on high-DPI screens
        from matplotlib_inline.backend_inline import set_matplotlib_formats
        set_matplotlib_formats("retina")


def configure(namespace: dict, names_before: set[str], allowed: dict[str, tuple]) -> dict:
    """Check the parameters of a page that has no chapter knobs (each one of a few ``allowed`` values), before it
    does anything, and set the page up. papermill only warns about a parameter the notebook does not declare and
    accepts any value; a typo would then silently run the default. Returns the parameters as a dict."""
    received = _received(namespace, names_before)
    unknown = sorted(set(received) - set(allowed))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; this page takes: {', '.join(allowed)}")
    _check_choices(received, allowed)
    if "profile" in received:
        _set_up_page(received["profile"])
    return received


def configure_page(namespace: dict, names_before: set[str], chapter) -> Profile:
    """Check a chapter page's parameters before it trains anything (``profile``, ``train_missing``, ``device``,
    then the chapter's knobs, ``chapter_profile``) and set the page up; returns the ``Profile`` its cells pass to
    the chapter's functions."""
    received = _received(namespace, names_before)
    base = {name: received.pop(name) for name in BASE_PARAMETERS if name in received}
    _check_choices(base, BASE_PARAMETERS)
    profile = chapter_profile(chapter, base["profile"], received, base["train_missing"])
    _set_up_page(profile.name)
    return profile


def page_stages(name: str, profile, device=None) -> list:
    """Every run a chapter page reads: its own stages and those of every chapter of the claims ledger it computes
    (the others at their published budgets), stage k of each chapter listed together, so an executor trains them
    all before the page executes and the page only loads records."""
    names = [name, *[other for other in claim_chapters() if other != name]]
    lists = [get_chapter(other).stages(profile, device) for other in names]
    return [lambda k=k: [spec for stages in lists if k < len(stages) for spec in stages[k]()]
            for k in range(max(map(len, lists)))]


# the names Page.compute_spent glues for the compute paragraph at the end of every chapter page
SPENT_GLUES = ("n_runs", "total_minutes", "elapsed_minutes")

_FOUND: dict = {}
_LEDGER: dict = {}


def _key(profile, train_missing: bool, device) -> tuple:
    # the store is part of the key: tests and the smoke profile use stores of their own
    return profile, bool(train_missing), None if device is None else str(device), str(results_dir())


def found(name: str, profile, train_missing: bool = True, device=None) -> dict:
    """A chapter's results (``chapter.results``: its records, grouped as its tables use them), computed once per
    process for each profile (a reader's changes included), store, ``train_missing`` and device."""
    key = (name, *_key(profile, train_missing, device))
    if key not in _FOUND:
        _FOUND[key] = get_chapter(name).results(profile, train_missing, device)
    return _FOUND[key]


def claim_chapters() -> tuple[str, ...]:
    """The chapters whose claims make up the book's ledger (``kdlib.chapters.CLAIM_CHAPTERS``)."""
    from kdlib import chapters
    return chapters.CLAIM_CHAPTERS


def ledger(profile, train_missing: bool = True, device=None, chapters: tuple[str, ...] | None = None):
    """Every claim of the book at ``profile``, from each chapter's ``claims(found(...))``, computed once per
    process: what every page's verdicts come from (a chapter page filters it). Holm's correction is applied once per
    family, by the chapter (one paper's claims: its ``claims`` ends with ``kdlib.claims.adjust``); the ledger checks
    that every tested primary comparison carries its adjusted p instead of adjusting again."""
    from kdlib import claims

    chapters = claim_chapters() if chapters is None else tuple(chapters)
    key = (chapters, *_key(profile, train_missing, device))
    if key not in _LEDGER:
        gathered = []
        for name in chapters:
            gathered += get_chapter(name).claims(found(name, profile, train_missing, device))
        claims.check_adjusted(gathered)
        _LEDGER[key] = gathered
    return _LEDGER[key]


def forget() -> None:
    """Drop what ``found`` and ``ledger`` hold (after records were written or deleted in this process)."""
    _FOUND.clear()
    _LEDGER.clear()


def executed_with(profile, train_missing: bool = True, device=None):
    """The one box at the top of a chapter page that says what it was executed with; a page with changes to the
    published profile says so and lists them, so that no reader takes its numbers for the book's."""
    name = profile_name(profile)
    extra = f"; device <code>{html.escape(device)}</code>" if device else ""
    extra += "; nothing trained (train_missing False)" if not train_missing else ""
    changes = getattr(profile, "changes", ())
    if not changes:
        published = "the published book" if name == "cpu" else \
            ("CI's tiny smoke runs: its numbers mean nothing" if name == "smoke" else "the papers' recipes")
        return admonition("Executed with", "note", f"profile <code>{name}</code> ({published}){extra}.")
    listed = "; ".join(f"<code>{key}</code> = <code>{html.escape(value)}</code>" for key, value in profile.shown())
    return admonition("Executed with changes to the published profile", "warning",
                f"This page was executed at profile <code>{name}</code> with: {listed}{extra}. Its numbers and "
                f"verdicts are not the published book's.")


def rerun_command(page: str, profile):
    """The last lines of a chapter page: the command that re-executes it as it is."""
    from kdlib.pages import reproduce_command
    return admonition("Re-execute this page", "tip",
                f"This page, as it is, comes from <code>{html.escape(reproduce_command(page, profile))}</code>. Add "
                f"<code>--workers 2</code> (or <code>--executor ray</code>, <code>--executor slurm</code>) to train "
                f"its missing runs in parallel, and <code>-p NAME VALUE</code> to change a parameter (the page "
                f"<em>Reproduce</em> lists them).")


class Page:
    """All a chapter notebook holds: its checked parameters, and one call per box, table or footer. The chapter's
    results and the ledger come from ``found`` and ``ledger``, so a page reads each record once."""

    def __init__(self, name: str, profile, train_missing: bool = True, device=None):
        self.name, self.profile, self.train_missing, self.device = name, profile, train_missing, device
        self.chapter = get_chapter(name)

    @classmethod
    def open(cls, namespace: dict, names_before: set[str], name: str) -> "Page":
        """Check the parameters a notebook received (``configure_page``) before anything trains, set the page up,
        and return its ``Page``."""
        profile = configure_page(namespace, names_before, get_chapter(name))
        return cls(name, profile, namespace["train_missing"], namespace["device"])

    def results(self) -> dict:
        return found(self.name, self.profile, self.train_missing, self.device)

    def ledger(self) -> list:
        return ledger(self.profile, self.train_missing, self.device)

    def claims(self) -> list:
        """This chapter's claim-settings, as the book's ledger holds them."""
        return [claim for claim in self.ledger() if claim.chapter == self.name]

    def opening(self):
        """The top of the page: the verdict box (a chapter with claims) and the executed-with box."""
        from IPython.display import display

        from kdlib.report import verdict_box
        if self.name in claim_chapters():
            display(verdict_box(self.ledger(), self.name))
        display(executed_with(self.profile, self.train_missing, self.device))

    def knobs(self):
        """The collapsed box of the page's knobs: value used, published value, range, meaning."""
        from kdlib.pages import knobs_table
        return knobs_table(self.name, self.profile)

    def claims_table(self):
        """This chapter's compact claims table, as the page shows it."""
        from kdlib import claims, report
        return report.shown(claims.compact_table(self.claims()))

    def compute_spent(self, by: tuple[str, ...] = ("model", "method", "threads"), records: list | None = None):
        """Minutes of training of the page's runs (``records``; default: every record in its results), counted,
        summed and averaged per ``by``; glues ``n_runs``, ``total_minutes`` and ``elapsed_minutes`` for its prose."""
        from myst_nb import glue

        from kdlib import report
        records = report.records_in(self.results()) if records is None else records
        spent = report.compute_spent(records)
        values = (len(spent), float(spent["minutes"].sum()), report.elapsed_minutes(records))
        for name, value in zip(SPENT_GLUES, values):
            glue(name, value, display=False)
        return report.shown(spent.groupby(list(by))["minutes"].agg(["count", "sum", "mean"]).round(2).reset_index())

    def testbeds(self) -> list:
        """A chapter's pilot section: glues its ``testbed_numbers`` for the prose, shows its ``testbed_table`` and
        returns the testbeds tried with their records (none at a profile without pilots), for ``pilot_tables``."""
        from IPython.display import display
        from myst_nb import glue

        from kdlib import report
        overview = self.chapter.testbed_overview(self.profile)
        for name, value in self.chapter.testbed_numbers(overview).items():
            glue(name, value, display=False)
        if overview:
            display(report.shown(self.chapter.testbed_table(overview)))
        return overview

    def pilot_tables(self, overview: list):
        """Each pilot tried: its name and data, then its rows on validation (the chapter's ``pilot_summary``)."""
        from IPython.display import Markdown, display

        from kdlib import report
        for testbed, found in overview:
            if found is not None:
                display(Markdown(f"**{testbed.name}**: {testbed.why}"))
                display(report.shown(self.chapter.pilot_summary(found)))

    def footer(self):
        """The end of the page: which models were rebuilt for it (if any) and the command that re-executes it."""
        from IPython.display import Markdown, display

        from kdlib.runs import rebuilt_note
        if rebuilt_note():
            display(Markdown(f"**Rebuilt models.** {rebuilt_note()}"))
        display(rerun_command(self.name, self.profile))

