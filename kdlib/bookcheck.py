"""What a strict build lets through and a reader sees as broken: checks on the rendered pages of the book.

``jupyter-book build -W`` fails on a broken reference, not on a page whose markup went wrong. A MyST fence that
does not open (a backtick fence whose info string holds a backtick, e.g. ``{cite}`` in an admonition's title)
turns the rest of the page into one code block, and the build passes. So after the build, every page of
``_build/html`` is read as a reader sees it (the text of its ``<body>``, scripts and styles left out; collapsed
cells count, a reader opens them) and fails when it shows:

- **raw MyST**: a directive fence (```` ```{ ```` or ``:::{``), a role that was not rendered (``{glue:text}`x```,
  ``{cite}`x```, ``{doc}`x``` ...; any ``{glue`` at all), or a directive option at the start of a line
  (``:class: note``);
- **raw notebook source**: a jupytext cell marker at the start of a line (``# %%``, or ``%%`` once the comment
  sign was read as markdown);
- **a cut table cell**: a ``<td>``/``<th>`` whose text ends in ``...`` or ``…`` (pandas' ``max_colwidth``, which
  every page now lifts in ``kdlib.chapters``, or the filler cells of its ``max_rows`` / ``max_columns`` trimming);
- **a figure shown too small**: an image that its ``width`` attribute, ``style`` width or ``scale-N`` class shows
  at less than ``min_share`` of its own width, or (where its own width can be read: PNG) one wider than the
  article column can show at ``min_share`` of its width. ``column_px`` is the widest sphinx-book-theme shows a
  cell output, ``full_width_px`` the same in a cell tagged ``full-width``: measured in headless Chromium at a
  1400 px window, beyond which the page grows no wider. Whether a figure has several panels is not in the HTML,
  so every figure is held to the share: a single panel drawn that wide has the same small lettering.

No false positives on code the book shows on purpose (a ``bash`` block under "Compute spent and how to
reproduce", the inputs of code cells, the command listings of the Reproducing page): these patterns are syntax
fragments that none of them holds. Checked by grep over ``notebooks/*.py`` and ``book/*.md``: ``%%`` occurs only
as jupytext's cell marker, a role followed by a backtick only in markdown, ``:class:`` only as an admonition's
option line, and ``…`` / ``...`` in no table the pages make. Code cells' Python may hold ``{name}``` (an
f-string around backticks), so only MyST's own role names count as a role, not any ``{word}``.

Pure functions over HTML text (``html.parser``); ``python -m kdlib.bookcheck _build/html`` checks a built book and
exits 1 when a page fails. ``fence_problems`` checks markdown source for the fence that caused the defect.
"""

from __future__ import annotations

import re
import struct
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Callable

MIN_SHARE = 0.6  # a figure is shown at no less than this share of its own width
COLUMN_PX = 772  # the widest a cell output is shown in the article column (Chromium, 1400 px window)
FULL_WIDTH_PX = 1050  # the same for a cell tagged full-width (the column and its margin)

# MyST's roles as this book writes them; a Python f-string such as f"`{key}`" must not count
_ROLES = r"glue(?::\w+)?|cite(?::\w+)?|doc|ref|numref|eq|math|term|download|abbr|sub-ref|footcite(?::\w+)?"
RAW_SYNTAX = {
    "a MyST directive fence": re.compile(r"(?:`{3,}|:{3,})\{"),
    "a MyST role not rendered": re.compile(rf"\{{(?:{_ROLES})\}}`|\{{glue\b"),
    "a directive option": re.compile(r"(?m)^[ \t]*:[a-z][a-z-]*:(?:[ \t]|$)"),
    "a notebook cell marker": re.compile(r"(?m)^[ \t]*(?:#[ \t]*)?%%"),
}
_FULL_WIDTH = {"tag_full-width", "tag_full_width", "full-width", "full_width"}  # sphinx-book-theme: 136 % wide
_CUT = re.compile(r"(?:\.\.\.|…)$")
_SKIPPED = {"script", "style", "head", "template", "noscript"}
_BLOCKS = {"p", "div", "pre", "li", "ul", "ol", "tr", "td", "th", "table", "br", "h1", "h2", "h3", "h4", "h5", "h6",
           "dt", "dd", "section", "details", "summary", "blockquote", "figure", "figcaption", "article", "main"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass(frozen=True)
class Image:
    src: str
    attrs: dict
    full_width: bool  # inside a cell tagged full-width


class _Page(HTMLParser):
    """The visible text of a page's body (block elements end a line), its table cells and its images."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.cells: list[str] = []
        self.images: list[Image] = []
        self._stack: list[tuple[str, bool]] = []  # (tag, full-width) of the open elements
        self._skip = 0
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        full = bool(_FULL_WIDTH & set((attrs.get("class") or "").split())) or any(f for _, f in self._stack)
        if tag == "img":
            self.images.append(Image(attrs.get("src") or "", attrs, full))
        if tag in _BLOCKS:
            self.text.append("\n")
        if tag in ("td", "th"):
            self._cell = []
        if tag in _VOID:
            return
        self._stack.append((tag, full))
        self._skip += tag in _SKIPPED

    def handle_endtag(self, tag):
        if tag in _VOID or not any(open_tag == tag for open_tag, _ in self._stack):
            return
        while self._stack:  # closes what the page left open inside it, as a browser does
            open_tag, _ = self._stack.pop()
            self._skip -= open_tag in _SKIPPED
            if open_tag == tag:
                break
        if tag in ("td", "th") and self._cell is not None:
            self.cells.append("".join(self._cell).strip())
            self._cell = None
        if tag in _BLOCKS:
            self.text.append("\n")

    def handle_data(self, data):
        if self._skip:
            return
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def visible_text(html: str) -> str:
    """The text a reader can see (or unfold) on a page: scripts, styles and the head left out."""
    return "".join(_parse(html).text)


def _excerpt(text: str, start: int, end: int) -> str:
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    return " ".join(text[line_start:line_end if line_end >= 0 else None].split())[:120]


def _shown(image: Image, natural: int | None) -> tuple[float | None, float]:
    """An image's own size in CSS pixels (None: not known) and the share of it its attributes let it show.

    A width in pixels sets its size (a high-DPI image, matplotlib's ``retina`` format, is written at half its
    pixels), and counts as a constraint when it leaves less than half of the image's pixels; a width or
    ``max-width`` in percent, or a ``scale-N`` class, is taken as that share of it."""
    style = dict(re.findall(r"([\w-]+)\s*:\s*([^;]+)", image.attrs.get("style") or ""))
    size, share = natural, 1.0
    for value in (image.attrs.get("width"), style.get("width"), style.get("max-width")):
        match = re.fullmatch(r"\s*([\d.]+)\s*(px|%)?\s*", value or "")
        if not match:
            continue
        number = float(match.group(1))
        if match.group(2) == "%":
            share = min(share, number / 100)
        elif natural:
            share = min(share, number / (natural / 2)) if number < natural / 2 else share
            size = min(size, max(number, natural / 2))
        else:
            size = number if size is None else min(size, number)
    scale = re.search(r"\bscale-?(\d+)\b", image.attrs.get("class") or "")
    if scale:
        share = min(share, int(scale.group(1)) / 100)
    return size, share


def figure_problems(images: list[Image], image_width: Callable[[str], int | None] = lambda src: None,
                    min_share: float = MIN_SHARE, column_px: int = COLUMN_PX,
                    full_width_px: int = FULL_WIDTH_PX) -> list[str]:
    """Images shown below ``min_share`` of their own width (``image_width``: an image's width in pixels, or None)."""
    problems = []
    for image in images:
        size, share = _shown(image, image_width(image.src))
        if size:
            share = min(share, (full_width_px if image.full_width else column_px) / size)
        if share < min_share:
            wide = f"{size:.0f} px wide, " if size else ""
            problems.append(f"a figure shown too small: {image.src} ({wide}shown at {share:.1%} of its width, "
                            f"below {min_share:.0%})")
    return problems


def check_page(html: str, image_width: Callable[[str], int | None] = lambda src: None,
               min_share: float = MIN_SHARE, column_px: int = COLUMN_PX,
               full_width_px: int = FULL_WIDTH_PX) -> list[str]:
    """What a reader would see as broken on this page: one line per problem (empty: the page passes)."""
    page = _parse(html)
    text = "".join(page.text)
    problems = [f"{what}: {_excerpt(text, *match.span())!r}"
                for what, pattern in RAW_SYNTAX.items() for match in pattern.finditer(text)]
    problems += [f"a table cell cut by pandas: {cell[-80:]!r}" for cell in page.cells if _CUT.search(cell)]
    return problems + figure_problems(page.images, image_width, min_share, column_px, full_width_px)


def png_width(path: Path) -> int | None:
    """The width of a PNG read from its header (None for another format or a missing file)."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(24)
    except OSError:
        return None
    if len(header) < 24 or header[:8] != b"\x89PNG\r\n\x1a\n" or header[12:16] != b"IHDR":
        return None
    return struct.unpack(">I", header[16:20])[0]


def pages(html_root: Path) -> list[Path]:
    """The pages of a built book (``_static``, ``_sources``, ``_images``: the theme's and Sphinx's files, not pages)."""
    return sorted(page for page in Path(html_root).rglob("*.html")
                  if not any(part.startswith("_") for part in page.relative_to(html_root).parts[:-1]))


def check_book(html_root: Path, **options) -> dict[str, list[str]]:
    """Every page of a built book (``_build/html``) that fails, by its path, with its problems."""
    html_root = Path(html_root)
    failures = {}
    for page in pages(html_root):
        def width(src: str, folder: Path = page.parent) -> int | None:
            return None if re.match(r"^[a-z]+:", src) else png_width(folder / src.split("#")[0].split("?")[0])
        problems = check_page(page.read_text(encoding="utf-8"), width, **options)
        if problems:
            failures[str(page.relative_to(html_root))] = problems
    return failures


_BACKTICK_FENCE = re.compile(r"^[ \t]{0,3}`{3,}(.*)$")


def fence_problems(markdown: str) -> list[str]:
    """Backtick fences in markdown source that do not open (CommonMark: a backtick fence's info string may hold no
    backtick), so that the fence meant to close them opens one instead and swallows the rest of the cell."""
    return [f"line {number}: a backtick fence whose info string holds a backtick (use a ::: fence): {line.strip()!r}"
            for number, line in enumerate(markdown.splitlines(), 1)
            if (match := _BACKTICK_FENCE.match(line)) and "`" in match.group(1)]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0]) if argv else Path("_build/html")
    if not root.is_dir():
        print(f"{root} is not a built book (run `make book` first)", file=sys.stderr)
        return 2
    failures = check_book(root)
    for page, problems in failures.items():
        for problem in problems:
            print(f"{page}: {problem}")
    count = len(pages(root))
    print(f"{len(failures)} of {count} pages fail" if failures else f"all {count} pages pass", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
