"""The book's identity on every page, and a link from every run id to its record: a Sphinx extension, listed in
``_config.yml`` under ``sphinx: extra_extensions`` (jupyter-book 1.x builds the book with Sphinx).

- **Footer.** Every page ends with the repository address (``git remote get-url origin`` of the checkout that holds
  kdlib; "local checkout (no remote)" when it has none, never a guessed URL), the kdlib version, the git commit
  (marked when tracked files had uncommitted changes) and the build date (UTC; ``SOURCE_DATE_EPOCH`` when set, for
  a reproducible build). They are read once, when the build starts, and go into the theme's ``extra_footer``.
- **Run ids.** In the text of every page, a 12-hex-digit word that is the id of a stored run record becomes a link
  to ``_static/records/<id>.json``, and when the build finishes every record a page links to is copied there, so the
  built book carries the records it cites. Words inside links, code blocks, scripts and styles are left alone, and
  an id with no record stays plain text, so no link can break. The stores searched are ``kdlib_record_stores``
  (a Sphinx option), else the run store (``KDLIB_RESULTS`` or ``results/``), a ``results`` folder beside the book's
  sources, and the smoke profile's own store.
"""

from __future__ import annotations

import datetime
import html
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Callable, Iterable

RECORDS_FOLDER = "_static/records"
NO_REMOTE = "local checkout (no remote)"
RUN_ID = re.compile(r"(?<![0-9A-Za-z_])[0-9a-f]{12}(?![0-9A-Za-z_])")
_LINK = re.compile(re.escape(RECORDS_FOLDER) + r"/([0-9a-f]{12})\.json")
_LEFT_ALONE = ("a", "pre", "script", "style", "textarea")
_TAG = re.compile(r"(<[^>]*>)")
_TAG_NAME = re.compile(r"<\s*(/?)\s*([A-Za-z][A-Za-z0-9-]*)")


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def repository_address(root: Path) -> str:
    """Where the book's sources live: the ``origin`` remote of the checkout at ``root``, or ``NO_REMOTE``."""
    return _git(root, "remote", "get-url", "origin") or NO_REMOTE


def build_date(environ: dict | None = None) -> str:
    """Today in UTC, or the day ``SOURCE_DATE_EPOCH`` names (reproducible builds)."""
    environ = os.environ if environ is None else environ
    epoch = environ.get("SOURCE_DATE_EPOCH")
    moment = datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc) if epoch else \
        datetime.datetime.now(datetime.timezone.utc)
    return moment.date().isoformat()


def identity(root: Path | None = None) -> dict[str, str | bool | None]:
    """What the footer of every page says: repository, kdlib version, commit (None outside git), whether tracked
    files differed from it, and the build date."""
    from kdlib import __version__
    from kdlib.paths import project_root
    root = project_root() if root is None else root
    commit = _git(root, "rev-parse", "HEAD")
    dirty = bool(_git(root, "status", "--porcelain", "--untracked-files=no")) if commit else False
    return {"repository": repository_address(root), "version": __version__, "commit": commit, "dirty": dirty,
            "date": build_date()}


def footer_html(values: dict) -> str:
    """The footer line: a remote that is a web address is a link, anything else is shown as it is."""
    repository = html.escape(str(values["repository"]))
    if re.match(r"https?://", str(values["repository"])):
        repository = f'<a href="{repository}">{repository}</a>'
    commit = values["commit"]
    shown = f"<code>{html.escape(commit)}</code>" if commit else "not recorded (no git checkout)"
    if commit and values["dirty"]:
        shown += " with uncommitted changes"
    return (f'<p class="kdlib-identity">Repository: {repository}. kdlib {html.escape(str(values["version"]))}, '
            f'commit {shown}. Built {html.escape(str(values["date"]))} (UTC).</p>')


def link_run_ids(body: str, known: set[str] | frozenset[str], href: Callable[[str], str]) -> tuple[str, set[str]]:
    """``body`` (HTML) with every run id in ``known`` that appears in its text wrapped in a link to ``href(id)``;
    returns the new HTML and the ids linked. Tag attributes and the text inside ``a``, ``pre``, ``script``,
    ``style`` and ``textarea`` are not touched."""
    linked: set[str] = set()
    depth = {name: 0 for name in _LEFT_ALONE}
    parts = _TAG.split(body)
    for index, part in enumerate(parts):
        if index % 2:  # a tag
            match = _TAG_NAME.match(part)
            if match and match.group(2).lower() in depth and not part.rstrip().endswith("/>"):
                name = match.group(2).lower()
                depth[name] = max(0, depth[name] + (-1 if match.group(1) else 1))
            continue
        if any(depth.values()) or not part:
            continue

        def wrap(found: re.Match) -> str:
            run_id = found.group(0)
            if run_id not in known:
                return run_id
            linked.add(run_id)
            return f'<a class="kdlib-record reference external" href="{html.escape(href(run_id))}">{run_id}</a>'
        parts[index] = RUN_ID.sub(wrap, part)
    return "".join(parts), linked


def record_stores(srcdir: Path, configured: Iterable[str] = ()) -> list[Path]:
    """The folders run records are looked up in, first match wins (see the module docstring)."""
    from kdlib.paths import cache_dir, results_dir
    folders = [Path(path) for path in configured] or [results_dir(), Path(srcdir) / "results",
                                                      cache_dir() / "smoke-results"]
    unique: list[Path] = []
    for folder in folders:
        if folder.is_dir() and folder.resolve() not in [known.resolve() for known in unique]:
            unique.append(folder)
    return unique


def known_records(stores: Iterable[Path]) -> dict[str, Path]:
    """Run id → its record file, the first store holding it winning."""
    found: dict[str, Path] = {}
    for store in stores:
        for path in sorted(store.glob("*.json")):
            if RUN_ID.fullmatch(path.stem):
                found.setdefault(path.stem, path)
    return found


def copy_linked_records(outdir: Path, records: dict[str, Path]) -> list[str]:
    """Copy into ``outdir/_static/records`` every record an HTML page of ``outdir`` links to; returns their ids.
    The pages are read rather than remembered, so pages not rewritten by an incremental build still count."""
    wanted = set()
    for page in Path(outdir).rglob("*.html"):
        wanted |= set(_LINK.findall(page.read_text(encoding="utf-8", errors="replace")))
    target = Path(outdir) / RECORDS_FOLDER
    copied = []
    for run_id in sorted(wanted & set(records)):
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(records[run_id], target / f"{run_id}.json")
        copied.append(run_id)
    return copied


# --- the Sphinx side ----------------------------------------------------------------------------------------------

def _add_footer(app, config) -> None:
    options = dict(config.html_theme_options or {})
    before = options.get("extra_footer") or ""
    options["extra_footer"] = before + footer_html(identity())
    config.html_theme_options = options


def _find_records(app) -> None:
    app.kdlib_records = known_records(record_stores(Path(app.srcdir), app.config.kdlib_record_stores))


def _link_page(app, pagename, templatename, context, doctree) -> None:
    if "body" not in context or not getattr(app, "kdlib_records", None):
        return
    pathto = context["pathto"]
    context["body"], _ = link_run_ids(context["body"], app.kdlib_records.keys(),
                                      lambda run_id: pathto(f"{RECORDS_FOLDER}/{run_id}.json", 1))


def _copy_records(app, exception) -> None:
    if exception is None and app.builder.format == "html":
        copy_linked_records(Path(app.outdir), getattr(app, "kdlib_records", {}))


def setup(app):
    app.add_config_value("kdlib_record_stores", [], "env")
    app.connect("config-inited", _add_footer)
    app.connect("builder-inited", _find_records)
    app.connect("html-page-context", _link_page)
    app.connect("build-finished", _copy_records)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
