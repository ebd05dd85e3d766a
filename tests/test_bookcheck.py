"""kdlib.bookcheck fails a page that shows raw MyST or notebook source, a cut table cell or a figure shown too small,
and passes the code and tables the book shows on purpose; the notebooks hold no fence that would break a page."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest

from kdlib import bookcheck

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))


def _page(body: str) -> str:
    return (f"<!DOCTYPE html><html><head><title>p</title><script>var s = '```{{note}}'; // %% {{glue:text}}`x`"
            f"</script><style>td:after {{content: '...'}}</style></head><body><main>{body}</main></body></html>")


# how Sphinx rendered the Rocket page's tail: the fence that was meant to close the admonition opened a code block
UNCLOSED_FENCE = _page("""
<p>```{admonition} From the official code <a href="references.html#id3">[Zhou, 2018]</a>
:class: note</p>
<ul><li><p>Its <code>--grad_block</code> flag is parsed with <code>type=bool</code>.</p></li></ul>
<div class="highlight-default notranslate"><div class="highlight"><pre><span></span>
## The runs behind the numbers

%% tags=[&quot;hide-input&quot;, &quot;hide-output&quot;]
report.run_ids(TABLE).style

# %% [markdown]
The {glue:text}`n_runs` distinct runs of this chapter took {glue:text}`total_minutes:.0f` minutes
</pre></div></div>""")

CLEAN = _page("""
<section id="deviations"><h2>Deviations</h2>
<div class="admonition note"><p class="admonition-title">From the official code
<a href="references.html#id3">[Zhou, 2018]</a></p><ul><li><p>Its <code>--grad_block</code> flag is parsed with
<code>type=bool</code>: a class of 10 and a ratio of 1:3 (see the note: it says so).</p></li></ul></div>
<p>The <span class="pasted-text">39</span> distinct runs took <span class="pasted-text">12</span> minutes.</p>
<div class="cell tag_hide-input docutils container"><details class="hide above-input"><summary>Show code cell
source</summary><div class="cell_input"><div class="highlight-ipython3"><pre><span class="n">glue</span>(<span
class="s2">"n_runs"</span>, len(spent), display=False)
names = [f"`{key}`" for key in knobs]  # an f-string around backticks is Python, not a role
share = "%d %%" % 3
</pre></div></div></details></div>
<div class="highlight-bash notranslate"><div class="highlight"><pre><span></span>python -m kdlib chapter rocket_launching --profile cpu
# one joint run of your own: bottom sharing, the KD hint at λ = 1
python -m kdlib run --dataset fashion_mnist --model rocket_10_16_1_bottom --method rocket --param hint=kd \\
    --param lam=1 --epochs 6
</pre></div></div>
<table class="dataframe"><thead><tr><th>model</th><th>run ids</th><th>error (%)</th></tr></thead>
<tbody><tr><td>light net</td><td>17eb06811e20 be7f7350d994 8a9c21501885</td><td>18.15 ± 1.30</td></tr></tbody></table>
<div class="cell_output"><img alt="_images/a.png" src="../_images/a.png" />
<img alt="retina" src="../_images/b.png" width="700" /></div>
</section>""")


def _widths(src: str) -> int | None:
    return {"../_images/a.png": 772, "../_images/b.png": 1400, "../_images/wide.png": 1684}.get(src)


def test_an_unclosed_fence_fails_the_page():
    problems = bookcheck.check_page(UNCLOSED_FENCE, _widths)
    kinds = {problem.split(":")[0] for problem in problems}
    assert kinds == {"a MyST directive fence", "a directive option", "a notebook cell marker",
                     "a MyST role not rendered"}, problems
    assert sum("notebook cell marker" in problem for problem in problems) == 2  # "%% tags" and "# %% [markdown]"
    assert any("{glue:text}`n_runs`" in problem for problem in problems)


def test_a_clean_page_passes_with_its_code_blocks_tables_and_figures():
    assert bookcheck.check_page(CLEAN, _widths) == []
    assert "python -m kdlib chapter rocket_launching" in bookcheck.visible_text(CLEAN)
    assert "var s" not in bookcheck.visible_text(CLEAN)  # scripts and styles are not shown


@pytest.mark.parametrize("cell", ["the 2×1200 teacher (dropout, jitter) makes 67 ...",
                                  "17eb06811e20 be7f7350d994 8a9c21501885 4e0140d…", "..."])
def test_a_cell_cut_by_pandas_fails_the_page(cell):
    page = _page(f"<table><tr><th>claim</th><td>{cell}</td></tr></table><p>Text ends in ...</p>")
    assert bookcheck.check_page(page) == [f"a table cell cut by pandas: {cell!r}"]


@pytest.mark.parametrize("image, fails", [
    ('<img src="../_images/a.png" style="width: 40%">', True),  # constrained by the page's markup
    ('<img src="../_images/a.png" class="scale-50">', True),
    ('<img src="../_images/a.png" width="200">', True),  # far below its own (or its retina) width
    ('<img src="../_images/a.png" style="width: 80%">', False),
    ('<img src="../_images/wide.png">', True),  # 1684 px in a 772 px column: 46 %
    ('<div class="cell tag_full-width"><div class="cell_output"><img src="../_images/wide.png"></div></div>', False),
    ('<img src="https://example.org/x.png" width="10%">', True),  # its width unknown, the constraint is not
    ('<img src="https://example.org/x.png">', False),
])
def test_a_figure_shown_below_its_share_fails_the_page(image, fails):
    problems = bookcheck.check_page(_page(image), _widths)
    assert bool(problems) == fails, problems
    assert all(problem.startswith("a figure shown too small") for problem in problems)


def test_check_book_reads_image_widths_and_skips_the_themes_files(tmp_path, capsys):
    (tmp_path / "book").mkdir()
    (tmp_path / "_images").mkdir()
    (tmp_path / "_static").mkdir()
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (1684).to_bytes(4, "big") + (400).to_bytes(4, "big")
    (tmp_path / "_images" / "wide.png").write_bytes(png + b"\x00" * 16)
    assert bookcheck.png_width(tmp_path / "_images" / "wide.png") == 1684
    (tmp_path / "book" / "page.html").write_text(_page('<img src="../_images/wide.png">'))
    (tmp_path / "book" / "clean.html").write_text(CLEAN)
    (tmp_path / "_static" / "theme.html").write_text(UNCLOSED_FENCE)
    failures = bookcheck.check_book(tmp_path)
    assert list(failures) == [str(Path("book") / "page.html")] and "1684 px wide" in failures["book/page.html"][0]
    assert bookcheck.main([str(tmp_path)]) == 1  # python -m kdlib.bookcheck _build/html
    printed = capsys.readouterr()
    assert "book/page.html: a figure shown too small" in printed.out and "1 of 2 pages fail" in printed.err


def test_fence_problems_finds_a_fence_that_does_not_open():
    markdown = "```{admonition} From the official code {cite}`zhou2018code`\n:class: note\n- a point\n```\n"
    assert len(bookcheck.fence_problems(markdown)) == 1
    assert bookcheck.fence_problems(markdown.replace("```", ":::")) == []
    assert bookcheck.fence_problems("```bash\npython -m kdlib list\n```\n") == []


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_no_notebook_cell_is_swallowed_by_a_fence(notebook):
    """Every jupytext cell marker starts a cell (an unbalanced fence in a markdown cell swallows the cells after it),
    and no markdown cell holds a fence that does not open."""
    text = notebook.read_text()
    cells = jupytext.reads(text, fmt="py:percent").cells
    assert len(cells) == len(re.findall(r"(?m)^# %%", text)), f"{notebook.name}: a cell marker was swallowed"
    for cell in cells:
        if cell.cell_type == "markdown":
            assert bookcheck.fence_problems(cell.source) == [], notebook.name


def test_the_books_own_pages_hold_no_fence_that_does_not_open():
    for page in (ROOT / "book").glob("*.md"):
        assert bookcheck.fence_problems(page.read_text()) == [], page.name


def _sphinx(tmp_path: Path, fence: str) -> Path:
    """A one-page MyST book built by Sphinx, with the Rocket page's deviation box opened by ``fence``."""
    source = tmp_path / "source"
    source.mkdir(parents=True)
    (source / "conf.py").write_text('extensions = ["myst_parser"]\nmyst_enable_extensions = ["colon_fence"]\n')
    (source / "index.md").write_text(f"""# A page

{fence}{{admonition}} From the official code {{sub-ref}}`today`
:class: note
- Its `--grad_block` flag is parsed with `type=bool`.
{fence}

## The runs behind the numbers

Every number on this page comes from these run records.

```bash
python -m kdlib chapter rocket_launching --profile cpu
```
""")
    result = subprocess.run([sys.executable, "-m", "sphinx", "-q", "-b", "html", source, tmp_path / "html"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return tmp_path / "html" / "index.html"


def test_a_page_built_by_sphinx_with_a_fence_that_does_not_open_fails(tmp_path):
    """The defect through the real pipeline (markdown-it, MyST, Sphinx): seconds, not a book build."""
    broken = bookcheck.check_page(_sphinx(tmp_path / "broken", "```").read_text())
    assert any(problem.startswith("a MyST directive fence") for problem in broken), broken
    assert any(problem.startswith("a directive option") for problem in broken), broken
    fixed = _sphinx(tmp_path / "fixed", ":::").read_text()
    assert bookcheck.check_page(fixed) == [] and "The runs behind the numbers" in bookcheck.visible_text(fixed)
