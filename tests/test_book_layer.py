"""The book layer (kdlib.book): a page reads each record once, computes the ledger once, checks its parameters once,
and nothing below it imports it."""

from __future__ import annotations

import ast
import re
import json
import os
import types
from pathlib import Path

import pytest

from kdlib.chapters import Choose

from kdlib import book, claims, paths, runs, stats

ROOT = Path(__file__).resolve().parent.parent


def _write(spec_id: str, value: float) -> Path:
    path = paths.results_dir() / f"{spec_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"id": spec_id, "metrics": {"test_acc": value}}))
    return path


def test_a_record_is_parsed_once_per_process_and_again_when_its_file_changes():
    path = _write("aaaaaaaaaaaa", 0.5)
    before = runs.READS["parsed"]
    first = runs.load_record("aaaaaaaaaaaa")
    assert runs.load_record("aaaaaaaaaaaa") is first
    assert [r["id"] for r in runs.all_records()] == ["aaaaaaaaaaaa"]
    assert runs.READS["parsed"] - before == 1
    _write("aaaaaaaaaaaa", 0.75)  # another process rewrote it (a worker that trained it again)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert runs.load_record("aaaaaaaaaaaa")["metrics"]["test_acc"] == 0.75
    assert runs.READS["parsed"] - before == 2
    path.unlink()
    assert runs.load_record("aaaaaaaaaaaa") is None


def _fake_chapters(monkeypatch):
    calls = {"one": 0, "two": 0}
    setting = claims.Setting("toy", "a", "1 epoch")

    def chapter(name, values):
        def results(profile, train_missing=True, device=None):
            calls[name] += 1
            return {"values": values}

        def chapter_claims(found):
            return claims.adjust([claims.Claim(f"C-{name}", name, "A beats B", "–", setting, "higher",
                                               (stats.welch(found["values"], [1.0, 1.1, 0.9], name),))])
        return types.SimpleNamespace(results=results, claims=chapter_claims, CHAPTER=name)

    fakes = {"one": chapter("one", [3.0, 3.1, 2.9]), "two": chapter("two", [1.0, 1.2, 0.8])}
    monkeypatch.setattr(book, "get_chapter", fakes.__getitem__)
    book.forget()
    return calls


def test_a_chapters_results_and_the_ledger_are_computed_once_per_process(monkeypatch):
    calls = _fake_chapters(monkeypatch)
    first = book.ledger("cpu", chapters=("one", "two"))
    assert book.ledger("cpu", chapters=("one", "two")) is first
    assert book.found("one", "cpu") is book.found("one", "cpu")
    assert calls == {"one": 1, "two": 1}
    # Holm once, within each chapter: a family of one keeps its raw p
    assert [c.comparisons[0].p_holm for c in first] == pytest.approx([c.comparisons[0].p for c in first])
    book.forget()
    book.ledger("cpu", chapters=("one", "two"))
    assert calls == {"one": 2, "two": 2}
    book.forget()


def test_the_memo_is_keyed_by_profile_store_and_train_missing(monkeypatch, tmp_path):
    calls = _fake_chapters(monkeypatch)
    book.found("one", "cpu")
    book.found("one", "smoke")
    book.found("one", "cpu", train_missing=False)
    monkeypatch.setenv("KDLIB_RESULTS", str(tmp_path / "elsewhere"))
    book.found("one", "cpu")
    assert calls["one"] == 4
    book.forget()


def test_a_page_filters_the_ledger_to_its_chapter(monkeypatch):
    _fake_chapters(monkeypatch)
    monkeypatch.setattr(book, "claim_chapters", lambda: ("one", "two"))
    page = types.SimpleNamespace(name="two", profile="cpu", train_missing=True, device=None)
    page.ledger = lambda: book.ledger("cpu", chapters=("one", "two"))
    assert [c.id for c in book.Page.claims(page)] == ["C-two"]
    book.forget()


def test_a_page_refuses_a_bad_parameter_before_anything_runs(monkeypatch):
    calls = _fake_chapters(monkeypatch)
    from kdlib.chapters import noisy_teachers
    monkeypatch.setattr(book, "get_chapter", lambda name: noisy_teachers)
    namespace = {"profile": "cpu", "train_missing": True, "device": None, "sigmas": [0.1, "x"]}
    with pytest.raises(ValueError, match=r"sigmas=.*holds 'x', not a finite number"):
        book.Page.open(namespace, set(), "noisy_teachers")
    namespace = {"profile": "gpu", "train_missing": True, "device": None}
    with pytest.raises(ValueError, match="profile='gpu' is not allowed; choose one of: 'smoke', 'cpu', 'paper'"):
        book.Page.open(namespace, set(), "noisy_teachers")
    assert calls == {"one": 0, "two": 0}
    book.forget()


def _imports(path: Path) -> set[str]:
    """Every kdlib module a file imports, at module level or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("kdlib"):
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("kdlib")}
    return found


@pytest.mark.parametrize("module", ["report", "claims", "stats", "profiles", "runs", "train", "data", "models",
                                    "losses"])
def test_nothing_below_the_book_layer_imports_it_or_the_chapters(module):
    """report.py is records → tables and figures; profiles.py is settings. Neither reaches up into the chapters,
    the pages or the book layer (not even inside a function)."""
    upward = {name for name in _imports(ROOT / "kdlib" / f"{module}.py")
              if name.startswith(("kdlib.book", "kdlib.chapters", "kdlib.pages", "kdlib.cli"))}
    assert not upward, f"kdlib/{module}.py imports {sorted(upward)}, which sit above it"


def test_the_chapter_list_is_read_from_the_chapter_modules():
    from kdlib import chapters, pages

    assert chapters.CHAPTERS == ("introduction", "noisy_teachers", "rocket_launching", "teacher_free",
                                 "self_distillation", "data_free", "synthesis")
    assert chapters.CLAIM_CHAPTERS == chapters.CHAPTERS[:-1]  # the synthesis page has no claims of its own
    for name, stem in chapters.chapter_pages().items():
        assert pages.PAGES[name] == stem and (ROOT / "notebooks" / f"{stem}.py").exists()
        assert f"book/{stem}" in (ROOT / "_toc.yml").read_text()


def test_the_chapter_template_declares_what_the_book_layer_reads():
    """templates/chapter.py and templates/notebook.py are what README's "Adding a chapter" copies: they must stay
    valid against today's API (a module the book layer can run, a notebook that opens a Page)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("template_chapter", ROOT / "templates" / "chapter.py")
    template = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(template)
    for name in ("CHAPTER", "PAGE", "KNOBS", "budget", "datasets", "stages", "results", "claims"):
        assert hasattr(template, name), name
    first, second = template.stages("smoke")
    grid = template.grid("smoke")
    assert [s.id for s in first()] == [s.id for s in grid.values()]  # the grid first: the table waits on its choice
    with pytest.raises(FileNotFoundError, match="KD weight"):
        second()
    records = {spec.id: {"metrics": {"val_acc": 0.5 + alpha / 10}} for alpha, spec in grid.items()}
    planned = template.plan("smoke", Choose(lambda spec: records.get(spec.id)))
    best = max(grid)
    assert {dict(s.method_params)["alpha"] for s in planned["table"]["distilled"]} == {best}
    found = {"table": {label: [{"id": f"{label}{seed}", "spec": {"seed": seed}, "metrics": {"test_acc": acc + seed / 100}}
                               for seed in range(3)]
                       for label, acc in (("teacher", 0.90), ("student alone", 0.80), ("distilled", 0.85))}}
    (claim,) = template.claims(found)
    assert claim.comparisons[0].effect == pytest.approx(5.0)  # distilled − student alone, in points
    assert template.page_numbers(found)["distilled_acc"] == pytest.approx(86.0)
    assert list(template.accuracy_table(found)["test accuracy (%)"]) == ["91.00 ± 1.00", "81.00 ± 1.00",
                                                                        "86.00 ± 1.00"]
    notebook = (ROOT / "templates" / "notebook.py").read_text()
    ast.parse(notebook)
    assert f'Page.open(globals(), _names_before_parameters, "{template.CHAPTER}")' in notebook
    assert set(template.KNOBS) <= set(re.findall(r"^(\w+) = None", notebook, re.M))
