"""A citable book: one version in pyproject, CITATION.cff and kdlib; every page's footer names the repository, the
version, the commit and the build date; every run id a page shows links to its record, which the built book carries
(``kdlib.sphinxext``)."""

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import kdlib
from kdlib import sphinxext

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def test_citation_pyproject_and_kdlib_name_one_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    citation = re.search(r"(?m)^version:\s*\"?([^\"\s]+)\"?\s*$", (ROOT / "CITATION.cff").read_text())
    assert citation, "CITATION.cff has no version"
    assert citation.group(1) == project == kdlib.__version__


def test_the_book_loads_the_extension():
    assert "kdlib.sphinxext" in (ROOT / "_config.yml").read_text()


def _git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=folder, check=True,
                   capture_output=True)


def test_the_repository_is_the_origin_remote_or_says_there_is_none(tmp_path):
    assert sphinxext.repository_address(tmp_path) == sphinxext.NO_REMOTE  # not a checkout at all
    _git(tmp_path, "init", "-q")
    assert sphinxext.repository_address(tmp_path) == sphinxext.NO_REMOTE  # a checkout without a remote
    _git(tmp_path, "remote", "add", "origin", "https://example.org/owner/book.git")
    assert sphinxext.repository_address(tmp_path) == "https://example.org/owner/book.git"


def test_identity_names_the_commit_and_whether_tracked_files_changed(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("one")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "commit", "-q", "-m", "first")
    values = sphinxext.identity(tmp_path)
    assert re.fullmatch(r"[0-9a-f]{40}", values["commit"]) and values["dirty"] is False
    assert values["version"] == kdlib.__version__ and values["repository"] == sphinxext.NO_REMOTE
    (tmp_path / "untracked.txt").write_text("not part of the book's code")
    assert sphinxext.identity(tmp_path)["dirty"] is False
    (tmp_path / "a.txt").write_text("two")
    assert sphinxext.identity(tmp_path)["dirty"] is True
    assert sphinxext.identity(tmp_path / "nowhere")["commit"] is None


def test_the_build_date_follows_source_date_epoch():
    assert sphinxext.build_date({"SOURCE_DATE_EPOCH": "1767225600"}) == "2026-01-01"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", sphinxext.build_date({}))


def test_the_footer_shows_all_four_and_links_only_a_web_address():
    line = sphinxext.footer_html({"repository": sphinxext.NO_REMOTE, "version": "0.1.0", "commit": "a" * 40,
                                  "dirty": True, "date": "2026-12-01"})
    assert "local checkout (no remote)" in line and "kdlib 0.1.0" in line and "a" * 40 in line
    assert "with uncommitted changes" in line and "2026-12-01" in line and "<a " not in line
    web = sphinxext.footer_html({"repository": "https://example.org/o/r.git", "version": "0.1.0", "commit": None,
                                 "dirty": False, "date": "2026-12-01"})
    assert '<a href="https://example.org/o/r.git">' in web and "not recorded" in web
    ssh = sphinxext.footer_html({"repository": "git@example.org:o/<r>.git", "version": "1", "commit": "b" * 40,
                                 "dirty": False, "date": "d"})
    assert "git@example.org:o/&lt;r&gt;.git" in ssh and "<a " not in ssh


KNOWN = {"00e6eb9116a1", "016197f88a5f"}


def _href(run_id: str) -> str:
    return f"../_static/records/{run_id}.json"


def test_known_run_ids_in_text_become_links_and_nothing_else_does():
    body = ('<table><tr><td>00e6eb9116a1 016197f88a5f</td><td>abcdefabcdef</td></tr></table>'
            '<p id="00e6eb9116a1">x00e6eb9116a1 00e6eb9116a1f <code>00e6eb9116a1</code></p>'
            '<a href="#">016197f88a5f</a><pre>reproduce 00e6eb9116a1</pre><script>var x="00e6eb9116a1"</script>')
    linked_body, linked = sphinxext.link_run_ids(body, KNOWN, _href)
    assert linked == KNOWN
    anchors = re.findall(r'<a class="kdlib-record[^"]*" href="([^"]+)">([0-9a-f]{12})</a>', linked_body)
    assert anchors == [(_href("00e6eb9116a1"), "00e6eb9116a1"), (_href("016197f88a5f"), "016197f88a5f"),
                       (_href("00e6eb9116a1"), "00e6eb9116a1")]  # the two cells and the inline code
    assert '<p id="00e6eb9116a1">' in linked_body  # attributes untouched
    assert "abcdefabcdef" in linked_body and "x00e6eb9116a1 00e6eb9116a1f" in linked_body  # no record, no word
    assert '<a href="#">016197f88a5f</a>' in linked_body  # already a link
    assert "<pre>reproduce 00e6eb9116a1</pre>" in linked_body and 'var x="00e6eb9116a1"' in linked_body


def test_ids_are_never_truncated_and_unknown_bodies_come_back_unchanged():
    body = "<td>" + " ".join(sorted(KNOWN)) + "</td>"
    out, _ = sphinxext.link_run_ids(body, KNOWN, _href)
    assert all(f'href="{_href(run_id)}">{run_id}</a>' in out for run_id in KNOWN)  # the whole id, linked
    assert sphinxext.link_run_ids(body, set(), _href) == (body, set())


def test_linked_records_are_copied_into_the_built_book(tmp_path):
    store, outdir = tmp_path / "store", tmp_path / "html"
    store.mkdir()
    for run_id in (*KNOWN, "0123456789ab"):
        (store / f"{run_id}.json").write_text(json.dumps({"id": run_id}))
    (outdir / "book").mkdir(parents=True)
    (outdir / "book" / "page.html").write_text(
        f'<a href="{_href("00e6eb9116a1")}">00e6eb9116a1</a> <a href="{_href("ffffffffffff")}">gone</a>')
    records = sphinxext.known_records(sphinxext.record_stores(tmp_path, [str(store)]))
    assert set(records) == {*KNOWN, "0123456789ab"}
    assert sphinxext.copy_linked_records(outdir, records) == ["00e6eb9116a1"]
    assert json.loads((outdir / "_static" / "records" / "00e6eb9116a1.json").read_text()) == {"id": "00e6eb9116a1"}
    assert not (outdir / "_static" / "records" / "0123456789ab.json").exists()  # not linked, not copied


def test_the_first_store_holding_a_record_wins(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, text in ((first, "1"), (second, "2")):
        folder.mkdir()
        (folder / "00e6eb9116a1.json").write_text(text)
    (second / "016197f88a5f.json").write_text("2")
    (second / "notes.json").write_text("not a record")
    records = sphinxext.known_records([first, second])
    assert records == {"00e6eb9116a1": first / "00e6eb9116a1.json", "016197f88a5f": second / "016197f88a5f.json"}


@pytest.mark.slow
def test_a_built_page_carries_the_footer_and_links_its_run_ids_to_copied_records(tmp_path):
    """A two-page book built strictly with the book's own configuration."""
    site, store = tmp_path / "site", tmp_path / "store"
    (site / "book").mkdir(parents=True)
    store.mkdir()
    (store / "00e6eb9116a1.json").write_text(json.dumps({"id": "00e6eb9116a1"}))
    config = (ROOT / "_config.yml").read_text().replace(
        "  config:\n", f"  config:\n    kdlib_record_stores: ['{store}']\n", 1)
    (site / "_config.yml").write_text(config)
    shutil.copy(ROOT / "book" / "references.bib", site / "book" / "references.bib")
    (site / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/page\n")
    (site / "book" / "intro.md").write_text("# Intro\n\nText.\n")
    (site / "book" / "page.md").write_text("# Page\n\n| run |\n| --- |\n| 00e6eb9116a1 |\n")
    build = subprocess.run([BIN / "jupyter-book", "build", site, "--warningiserror", "--nitpick", "--quiet"],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    html_dir = site / "_build" / "html"
    for page in ("intro", "page"):
        text = (html_dir / "book" / f"{page}.html").read_text()
        assert "kdlib-identity" in text and f"kdlib {kdlib.__version__}" in text and "Built " in text
    assert 'href="../_static/records/00e6eb9116a1.json">00e6eb9116a1</a>' in (html_dir / "book" / "page.html").read_text()
    assert (html_dir / "_static" / "records" / "00e6eb9116a1.json").exists()
