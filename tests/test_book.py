"""Every chapter executes at the smoke profile, its parameters are checked, and the book builds strictly (-W)."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))
BIN = Path(sys.executable).parent


def _to_ipynb(source: Path, target: Path) -> None:
    subprocess.run([BIN / "jupytext", "--quiet", "--to", "ipynb", "--output", target, source], check=True)


def _papermill(source: Path, target: Path, *parameters: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """As `make notebooks` does: executed in the folder of the output, where a page writes its downloads."""
    return subprocess.run([BIN / "papermill", "--log-level", "WARNING", "--cwd", target.parent, source, target,
                           *parameters], capture_output=True, text=True, env=env)


def _page(name: str, *options, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m kdlib page`` at the smoke profile: what `make book` and a reader run."""
    return subprocess.run([sys.executable, "-m", "kdlib", "--threads", "2", "page", name, "--profile", "smoke",
                           *map(str, options)], capture_output=True, text=True, env=env, cwd=ROOT)


def test_notebooks_hold_no_training_loops():
    """Training lives in kdlib; a notebook that steps an optimiser has grown its own trainer."""
    forbidden = re.compile(r"\.backward\(|\.step\(\)|torch\.optim|for epoch\b|zero_grad")
    for notebook in NOTEBOOKS:
        hits = [line for line in notebook.read_text().splitlines() if forbidden.search(line)]
        assert not hits, f"{notebook.name} trains by itself: {hits}"


def test_every_notebook_has_a_profile_parameter():
    for notebook in NOTEBOOKS:
        text = notebook.read_text()
        cell = re.split(r'# %% tags=\["parameters"[^\]]*\]\n', text, maxsplit=1)
        assert len(cell) == 2, f"{notebook.name} has no papermill parameters cell"
        assert re.search(r"^profile = ", cell[1].split("# %%", 1)[0], re.M), f"{notebook.name}: no profile"


def _cells(notebook: Path) -> list[tuple[str, str]]:
    """The code cells of a jupytext percent notebook, as (header line, source)."""
    parts = re.split(r"^(# %%.*)$", notebook.read_text(), flags=re.M)
    return [(header, source) for header, source in zip(parts[1::2], parts[2::2]) if "[markdown]" not in header]


def _check_parameters(notebook: Path, injected: dict) -> None:
    """What papermill runs up to a page's parameter check, in this process (no kernel): every code cell before the
    parameters cell, the parameters cell, papermill's injected assignments, then the first statement after them
    (the page's check, which must come before anything else)."""
    cells = _cells(notebook)
    index = next(i for i, (header, _) in enumerate(cells) if re.search(r'tags=\[[^\]]*"parameters"', header))
    namespace = {"__name__": "__main__"}
    for _, source in cells[:index + 1]:
        exec(compile(source, str(notebook), "exec"), namespace)
    namespace.update(injected)
    first = ast.Module(body=ast.parse(cells[index + 1][1]).body[:1], type_ignores=[])
    exec(compile(first, str(notebook), "exec"), namespace)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
@pytest.mark.parametrize("parameters, message", [
    ({"profle": "cpu"}, "unknown parameter(s) profle"),  # then what the page takes
    ({"profile": "gpu"}, "parameter profile='gpu' is not allowed; choose one of: 'smoke', 'cpu', 'paper'"),
    ({"profile": 1}, "parameter profile=1 is not allowed; choose one of: 'smoke', 'cpu', 'paper'"),
])
def test_bad_parameters_stop_the_chapter_before_training(isolated_store, notebook, parameters, message):
    """As `papermill -p profile smoke -p NAME VALUE` would inject them (papermill reads "1" as the integer 1)."""
    with pytest.raises(ValueError) as error:
        _check_parameters(notebook, {"profile": "smoke", **parameters})
    assert message in str(error.value)
    assert not (isolated_store / "results").exists() and not (isolated_store / "cache").exists(), \
        "something was written before the parameters were checked"


def test_notebooks_hold_no_verdict_logic_and_write_no_claims_files():
    """Verdicts come from kdlib.claims alone: a notebook that words its own verdict, parses one back from text or
    writes a claims file has grown its own statistics layer."""
    forbidden = re.compile(r"\bconfirmed\b|claim_verdict|within noise|two standard errors|claims_\w*\.json|"
                           r"\.to_json\(|report\.difference|compare_records|\.split\(\"; \"\)")
    for notebook in NOTEBOOKS:
        hits = [line for line in notebook.read_text().splitlines() if forbidden.search(line)]
        assert not hits, f"{notebook.name}: {hits}"


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Path:
    """Every chapter executed at the smoke profile and the book built strictly, once for the tests that read it.

    Session-scoped, so it sets its own store folders rather than relying on the per-test ``isolated_store``."""
    tmp_path = tmp_path_factory.mktemp("book")
    env = {**os.environ, "KDLIB_RESULTS": str(tmp_path / "results"), "KDLIB_CACHE": str(tmp_path / "cache")}
    book = tmp_path / "site"
    shutil.copytree(ROOT / "book", book / "book", ignore=shutil.ignore_patterns("*.ipynb"))
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, book / name)
    for notebook in NOTEBOOKS:  # as `make book` does, into the test's own book
        result = _page(notebook.stem, "--out", book, "--no-build", env=env)
        assert result.returncode == 0, f"{notebook.name} failed:\n{result.stderr[-3000:]}"
        cells = json.loads((book / "book" / f"{notebook.stem}.ipynb").read_text())["cells"]
        injected = [cell for cell in cells if "injected-parameters" in cell["metadata"].get("tags", [])]
        assert injected and all("remove-cell" in cell["metadata"]["tags"] for cell in injected)  # shown once
    assert list((tmp_path / "results").glob("*.json")), "the smoke chapters wrote no run records"
    build = subprocess.run([BIN / "jupyter-book", "build", book, "--warningiserror", "--nitpick"],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
    return book


@pytest.mark.slow
@pytest.mark.data("mnist", "fashion_mnist")
@pytest.mark.process
def test_chapters_execute_and_the_book_builds_strictly(built_book):
    book = built_book
    html = (book / "_build" / "html" / "book" / "00_introduction.html").read_text()
    assert "Experiment 1: MNIST" in html and "<img" in html
    listing = (book / "_build" / "html" / "book" / "91_results.html").read_text()
    assert "all_runs.csv" in listing and list((book / "_build" / "html").rglob("all_runs.csv"))
    noisy = (book / "_build" / "html" / "book" / "01_noisy_teachers.html").read_text()
    assert "C4" in noisy and "stand-in for SVHN and CIFAR-10" in noisy and "<img" in noisy
    teacher_free = (book / "_build" / "html" / "book" / "03_teacher_free.html").read_text()
    assert "C13" in teacher_free and "stand-in for CIFAR-100" in teacher_free and teacher_free.count("<img") >= 3
    rocket = (book / "_build" / "html" / "book" / "02_rocket_launching.html").read_text()
    assert "C9" in rocket and "stand-in for CIFAR-10" in rocket and rocket.count("<img") >= 2  # diagram, curves
    self_distillation = (book / "_build" / "html" / "book" / "04_self_distillation.html").read_text()
    assert "C16" in self_distillation and "stand-in for CIFAR-100" in self_distillation
    assert self_distillation.count("<img") >= 2  # curves per exit, accuracy against latency
    data_free = (book / "_build" / "html" / "book" / "05_data_free.html").read_text()
    assert "C19" in data_free and "stand-in for CIFAR-10" in data_free and "98.20" in data_free
    assert data_free.count("<img") >= 3  # robustness, class histograms, sample grids
    synthesis = (book / "_build" / "html" / "book" / "06_synthesis.html").read_text()
    assert "claims ledger" in synthesis and "C19" in synthesis and "C1" in synthesis and "<img" in synthesis
    assert "untestable here" in synthesis and "p (Holm)" in synthesis and "MDE" in synthesis
    for page in (noisy, rocket, teacher_free, self_distillation, data_free):
        assert "p (Holm)" in page  # every chapter shows its ledger rows
    # no page writes files into the folder it is executed in (the book's own downloads aside)
    assert not list((book / "book").glob("claims_*.json"))
    # MathJax is served from the book itself, not from a CDN, so equations render offline
    assert "cdn.jsdelivr" not in html and "mathjax" in html.lower()


@pytest.mark.slow
@pytest.mark.data("mnist", "fashion_mnist")
@pytest.mark.process
def test_no_page_shows_raw_source_a_cut_cell_or_a_shrunk_figure(built_book):
    """The strict build passes a page whose markup went wrong; kdlib.bookcheck reads every page as a reader sees it."""
    from kdlib import bookcheck

    failures = bookcheck.check_book(built_book / "_build" / "html")
    assert not failures, "\n".join(f"{page}: {problem}" for page, problems in failures.items() for problem in problems)


PAGES = {"introduction": "00_introduction", "noisy_teachers": "01_noisy_teachers",
         "rocket_launching": "02_rocket_launching", "teacher_free": "03_teacher_free",
         "self_distillation": "04_self_distillation", "data_free": "05_data_free"}


def _table_rows(html: str) -> list[str]:
    """The text of every table row of a page, tags stripped and entities decoded, cells separated by " | "."""
    import html as html_module

    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", html, flags=re.S)
    return [" | ".join(html_module.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
                       for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, flags=re.S)) for row in rows]


@pytest.mark.slow
@pytest.mark.data("mnist", "fashion_mnist")
@pytest.mark.process
def test_every_page_shows_the_verdicts_of_the_books_ledger(built_book, monkeypatch):
    """Each chapter page (and the synthesis) shows, row for row, the claim, comparison, Holm-adjusted p and verdict
    that ``kdlib.book.ledger`` computes from the same records: the pages' verdicts are the statistics layer's."""
    from kdlib import claims, paths
    from kdlib.book import ledger
    from kdlib.chapters import get_chapter

    monkeypatch.setenv("KDLIB_RESULTS", str(built_book.parent / "results"))
    monkeypatch.setenv("KDLIB_CACHE", str(built_book.parent / "cache"))
    paths.use_profile("smoke")
    book_claims = ledger("smoke", train_missing=False)
    table = claims.table(book_claims)
    assert len(table) >= len(PAGES) and set(table["verdict"]) <= set(claims.VERDICTS)
    synthesis = _table_rows((built_book / "_build" / "html" / "book" / "06_synthesis.html").read_text())
    for name, page in PAGES.items():
        chapter = get_chapter(name)
        ids = {claim.id for claim in chapter.claims(chapter.results("smoke", train_missing=False))}
        rows = _table_rows((built_book / "_build" / "html" / "book" / f"{page}.html").read_text())
        for wanted in table[table["claim"].isin(ids)][["claim", "comparison", "p (Holm)", "verdict"]].itertuples(
                index=False, name=None):
            for shown in (rows, synthesis):
                assert any(all(f"| {cell} |" in f"| {line} |" for cell in wanted) for line in shown), \
                    f"{page}: no row shows {wanted}"


def test_every_chapter_cites_its_paper_and_the_book_is_citable():
    import yaml

    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    titles = {reference["title"] for reference in cff["references"]}
    bib = (ROOT / "book" / "references.bib").read_text()
    chapters = {"00_introduction": ("hinton2015distilling", "Distilling the Knowledge in a Neural Network"),
                "01_noisy_teachers": ("sau2016deep", "Deep Model Compression: Distilling Knowledge from Noisy Teachers"),
                "02_rocket_launching": ("zhou2018rocket", "Rocket Launching: A Universal and Efficient Framework for "
                                                          "Training Well-performing Light Net"),
                "03_teacher_free": ("yuan2020revisiting",
                                    "Revisiting Knowledge Distillation via Label Smoothing Regularization"),
                "04_self_distillation": ("zhang2019byot", "Be Your Own Teacher: Improve the Performance of "
                                                          "Convolutional Neural Networks via Self Distillation"),
                "05_data_free": ("han2021rdskd", "Robustness and Diversity Seeking Data-Free Knowledge Distillation")}
    for notebook, (key, title) in chapters.items():
        text = (ROOT / "notebooks" / f"{notebook}.py").read_text()
        assert f"`{key}`" in text and re.search(rf"\{{cite(:t)?\}}`{key}`", text), notebook
        assert f"{{{key}," in bib and title in titles, key
    data_free = (ROOT / "notebooks" / "05_data_free.py").read_text()  # and the method it is measured against
    assert "{cite:t}`chen2019dafl`" in data_free and "{chen2019dafl," in bib
    assert "Data-Free Learning of Student Networks" in titles
    toc = (ROOT / "_toc.yml").read_text()
    assert all(f"book/{notebook.stem}" in toc for notebook in NOTEBOOKS), "a chapter is missing from _toc.yml"


# per chapter page: one changed parameter, its value as the box shows it, and what else the page must then show
CHANGED = {
    "introduction": ("temperatures", "[2.0, 8.0]", "[2, 8]", "T=8"),
    "noisy_teachers": ("sigmas", "[0.2, 0.4, 0.8]", "[0.2, 0.4, 0.8]", "σ = 0.2"),
    "rocket_launching": ("lr", "0.05", "0.05", None),
    "teacher_free": ("epsilons", "[0.2]", "[0.2]", "epsilon=0.2"),
    "self_distillation": ("seeds", "[1]", "[1]", None),
    "data_free": ("sweep_seeds", "[1]", "[1]", "seed 1"),
    "synthesis": ("sweep_seeds", "[1]", "[1]", None),
}


def _outputs(notebook: Path) -> str:
    """Every output of an executed notebook as text (HTML tags stripped), and every cell's source."""
    cells = json.loads(notebook.read_text())["cells"]
    texts = []
    for cell in cells:
        for output in cell.get("outputs", []):
            for value in output.get("data", {}).values():
                texts.append("".join(value) if isinstance(value, list) else str(value))
            texts.append("".join(output.get("text", "")))
    return re.sub(r"<[^>]+>", "", "\n".join(texts)).replace("&#x27;", "'")


@pytest.mark.slow
@pytest.mark.data("mnist", "fashion_mnist")
@pytest.mark.process
@pytest.mark.parametrize("name", CHANGED)
def test_a_page_follows_its_parameters(built_book, tmp_path, name):
    """Executed by the re-run command with one parameter changed, a page says so at the top, lists the change,
    ends with the command that reproduces it, and computes from the changed setting."""
    key, value, shown, content = CHANGED[name]
    env = {**os.environ, "KDLIB_RESULTS": str(built_book.parent / "results"),
           "KDLIB_CACHE": str(built_book.parent / "cache")}  # the smoke book's records: only what changed trains
    published = {path: path.stat().st_mtime for path in [*ROOT.glob("book/*"), *ROOT.glob("results/*")]}
    result = _page(name, "-p", key, value, "--out", tmp_path / "page", "--no-build", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    notebook = next((tmp_path / "page" / "book").glob("*.ipynb"))
    text = _outputs(notebook)
    assert "Executed with changes to the published profile" in text
    assert f"{key} = {shown}" in text
    assert f"python -m kdlib page {name} --profile smoke -p {key} '{value}'" in text
    if content:
        assert content in text, f"{name}: the page does not show {content!r}"
    assert {path: path.stat().st_mtime for path in [*ROOT.glob("book/*"), *ROOT.glob("results/*")]} == published
    assert sorted(path.name for path in tmp_path.iterdir()) == ["page"]  # nothing beside the page's own folder
