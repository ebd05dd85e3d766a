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

from kdlib.paths import project_root

# page name -> notebook stem; a chapter page has runs (kdlib.chapters), the others only read records
PAGES = {"introduction": "00_introduction", "noisy_teachers": "01_noisy_teachers",
         "rocket_launching": "02_rocket_launching", "teacher_free": "03_teacher_free",
         "self_distillation": "04_self_distillation", "data_free": "05_data_free", "synthesis": "06_synthesis",
         "speed": "90_speed", "results": "91_results"}
# the book's own pages, copied around a reader's page so that it builds as a book
_BOOK_FILES = ("intro.md", "reproduce.md", "references.md", "references.bib")


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
    from kdlib.chapters import profile_name
    changes = getattr(profile, "changes", ())
    def written(value) -> str:  # as -p reads it back (parse_value); subset's every-image None is 'all'
        return "all" if value is None else json.dumps(list(value) if isinstance(value, tuple) else value)

    extra = "".join(f" -p {key} '{written(value)}'" for key, value in changes)
    return f"python -m kdlib page {name} --profile {profile_name(profile)}{extra}"


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
