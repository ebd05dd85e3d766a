"""Executing a page of the book: ``python -m kdlib page NAME -p KEY VALUE ...`` and ``make book`` both come here.

A chapter page's missing runs are trained first, stage by stage, by an executor (``kdlib.executors``); then papermill
executes the notebook, which only loads records. A reader's page goes to its own folder (``_pages/<page>/`` by
default) with a small book around it, never over the published page unless ``published`` is asked.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from kdlib.chapters import chapter_pages
from kdlib.paths import project_root

# page name -> notebook stem; a chapter page has runs (kdlib.chapters), the others only read records
PAGES = {**chapter_pages(), "speed": "90_speed", "results": "91_results"}
# the book's own pages, copied around a reader's page so that it builds as a book
_BOOK_FILES = ("intro.md", "reproduce.md", "references.md", "references.bib")
# written by the synthesis page (kdlib.claims.write_answers) and included by intro.md; a stub where it has not run
_ANSWERS = {"answers.md": "The answer table is written when the synthesis page is executed (`make book`).\n",
            "answers.svg": '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>\n'}


def page_stem(name: str) -> str:
    """``noisy_teachers`` or ``01_noisy_teachers``: the notebook's file name without ``.py``."""
    if name in PAGES:
        return PAGES[name]
    if name in PAGES.values():
        return name
    raise ValueError(f"unknown page {name!r}; pages: {', '.join(PAGES)}")


def parse_value(text: str):
    """A ``-p`` value as Python reads it (``[0, 1]``, ``0.5``, ``None``, ``'cifar10'``); a bare word stays text."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def reproduce_command(name: str, profile) -> str:
    """The command that re-executes this page with these parameters (shown at the end of every chapter page)."""
    from kdlib.profiles import profile_name
    changes = getattr(profile, "changes", ())
    def written(value) -> str:  # as -p reads it back (parse_value); subset's every-image None is 'all'
        return "all" if value is None else json.dumps(list(value) if isinstance(value, tuple) else value)

    extra = "".join(f" -p {key} '{written(value)}'" for key, value in changes)
    return f"python -m kdlib page {name} --profile {profile_name(profile)}{extra}"


def _knob_text(value) -> str:
    """A knob's value as a reader writes it after ``-p``: lists without brackets, every image as 'all'."""
    if value is None:
        return "all"
    if isinstance(value, (tuple, list)):
        return ", ".join(_knob_text(item) for item in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _knob_value(chapter, profile, name: str):
    """The value knob ``name`` takes at ``profile`` (a name or a ``Profile`` with a reader's changes): its entry
    in the chapter's budget, or, for a prefixed knob such as the introduction's ``recipe_seeds``, the ``seeds`` of
    the chapter's ``recipe(profile)``."""
    budget = chapter.budget(profile)
    if name in budget:
        return budget[name]
    prefix, _, key = name.partition("_")
    part = getattr(chapter, prefix, None)
    if callable(part):
        values = part(profile)
        if isinstance(values, dict) and key in values:
            return values[key]
    raise KeyError(f"chapter {chapter.CHAPTER!r} declares knob {name!r} but no budget holds it")


def _per_dataset(chapter, profile, name: str, general) -> str:
    """' (mnist: 0, 1, 2, 3, 4)' where a dataset of the chapter has its own value of the knob at ``profile``."""
    import inspect
    if "dataset" not in inspect.signature(chapter.budget).parameters:
        return ""
    own = [(dataset, chapter.budget(profile, dataset).get(name)) for dataset in chapter.datasets(profile)]
    return "".join(f" ({dataset}: {_knob_text(value)})" for dataset, value in own if value != general)


def knobs_table(name: str, parameters=None, profile: str = "cpu"):
    """The knobs of chapter page ``name`` as a table a page can show in a collapsed box: per knob (the index) the
    value this execution used, the published book's value (profile ``cpu``), the ``paper`` profile's value, what
    it takes (type and range) and what it means. ``parameters``: the ``Profile`` the page's parameters cell made
    (``kdlib.book.configure_page``), or a dict of ``-p`` values checked at ``profile``; None: ``profile`` as
    published. A value that one dataset of the chapter overrides is followed by that dataset's value."""
    import pandas as pd

    from kdlib import chapters, profiles
    stem = page_stem(name)
    page = next(key for key, value in PAGES.items() if value == stem)
    if page not in chapters.CHAPTERS:
        raise ValueError(f"page {page!r} has no knobs; chapter pages: {', '.join(chapters.CHAPTERS)}")
    chapter = chapters.get_chapter(page)
    used = parameters if isinstance(parameters, profiles.Profile) else \
        profiles.chapter_profile(chapter, profile, dict(parameters or {}), train_missing=False)
    changed = {key for key, _ in used.changes}
    rows = {}
    for knob_name, knob in chapter.KNOBS.items():
        row = {}
        for column, setting in (("value used", used), ("published (cpu)", "cpu"), ("paper profile", "paper")):
            value = _knob_value(chapter, setting, knob_name)
            note = "" if column == "value used" and knob_name in changed else \
                _per_dataset(chapter, setting, knob_name, value)
            row[column] = _knob_text(value) + note
        row["takes"] = knob.allowed()
        row["meaning"] = knob.doc
        rows[knob_name] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("parameter")


def _tidy(notebook: Path) -> None:
    """papermill's copy of the parameters is not shown (the page's "executed with" box says them once)."""
    import nbformat
    document = nbformat.read(notebook, as_version=4)
    for cell in document.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
    nbformat.write(document, notebook)


def execute(name: str, parameters: dict, target: Path) -> Path:
    """Execute page ``name`` with ``parameters`` into ``target`` (a folder); nothing is left there on failure."""
    import papermill
    stem = page_stem(name)
    source = project_root() / "notebooks" / f"{stem}.py"
    created = not target.exists()
    target.mkdir(parents=True, exist_ok=True)  # papermill runs the page in it (where it writes its downloads)
    output = target / f"{stem}.ipynb"
    with tempfile.TemporaryDirectory() as scratch:
        converted = Path(scratch) / f"{stem}.ipynb"
        subprocess.run([str(Path(sys.executable).parent / "jupytext"), "--quiet", "--to", "ipynb", "--output",
                        str(converted), str(source)], check=True)
        partial = Path(scratch) / "executed.ipynb"
        try:
            papermill.execute_notebook(str(converted), str(partial), parameters=parameters, cwd=str(target),
                                       log_output=False, progress_bar=False)
        except papermill.PapermillExecutionError as error:
            if created:
                shutil.rmtree(target, ignore_errors=True)
            raise RuntimeError(f"page {name} failed in cell {error.exec_count}: {error.ename}: {error.evalue}") \
                from None
        _tidy(partial)
        shutil.move(partial, output)
    return output


def build_book(folder: Path, stems: list[str]) -> Path:
    """A book around the executed pages in ``folder/book``: the book's own pages copied beside them, a table of
    contents of what is there, built (not strictly: links to pages not executed here stay unresolved)."""
    root = project_root()
    for file_name in _BOOK_FILES:
        shutil.copy(root / "book" / file_name, folder / "book" / file_name)
    for file_name, stub in _ANSWERS.items():  # the landing page's answers, from the synthesis page when it ran
        target = folder / "book" / file_name
        if not target.exists():
            if (root / "book" / file_name).exists():
                shutil.copy(root / "book" / file_name, target)
            else:
                target.write_text(stub)
    shutil.copy(root / "_config.yml", folder / "_config.yml")
    chapters = "".join(f"  - file: book/{stem}\n" for stem in stems)
    (folder / "_toc.yml").write_text(f"format: jb-book\nroot: book/intro\nchapters:\n{chapters}"
                                     f"  - file: book/reproduce\n  - file: book/references\n")
    build = subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), "build", str(folder), "--quiet"],
                           capture_output=True, text=True)
    if build.returncode != 0:
        raise RuntimeError(f"the book around {', '.join(stems)} did not build:\n"
                           f"{(build.stdout + build.stderr)[-2000:]}")
    return folder / "_build" / "html" / "index.html"
