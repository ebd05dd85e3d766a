"""The built book as a reader sees it: every page opened in headless Chromium, offline.

Checks per page: it loads; every image is present and non-empty; equations are typeset by the MathJax the book
ships (no CDN); every internal link points at a page (and anchor) that exists; no request leaves the local server.
A screenshot of each chapter's first screen is kept under ``_build/screenshots`` (a build artefact, not committed).
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest

from test_book import ROOT, built_book  # noqa: F401  (the session fixture: chapters executed, book built once)

SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1280,900")


def _find(*names: str) -> str | None:
    return next((path for path in map(shutil.which, names) if path), None)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium, driver_path = _find("chromium", "chromium-browser"), _find("chromedriver")
    if not (chromium and driver_path):
        pytest.fail("headless Chromium is missing: `apt-get install chromium chromium-driver` (`make test` does it)")
    import os

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not look for drivers online
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def served(built_book):  # noqa: F811
    """The built HTML on a local HTTP server (some theme scripts do not work from file://)."""
    root = built_book / "_build" / "html"

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _requests(driver, base: str) -> list[str]:
    """URLs the book's own pages asked for (the browser's internal pages, e.g. the first new tab, are not ours)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent" and \
                message["params"].get("documentURL", "").startswith(base):
            urls.append(message["params"]["request"]["url"])
    return urls


def _broken_links(page: Path, root: Path, base: str, hrefs: list[str]) -> list[str]:
    broken = []
    for href in hrefs:
        url, fragment = urldefrag(href)
        if not url.startswith(base):
            continue  # outside links are allowed as links (they are not requested)
        target = root / unquote(urlparse(url).path).lstrip("/")
        if target.is_dir():
            target = target / "index.html"
        if not target.exists():
            broken.append(href)
        elif fragment and target.suffix == ".html" and not re.search(
                rf'id="{re.escape(unquote(fragment))}"', target.read_text(errors="ignore")):
            broken.append(href)
    return broken


@pytest.mark.slow
def test_every_page_loads_offline_with_images_equations_and_links(browser, served):
    root, base = served
    pages = sorted(path for path in root.rglob("*.html") if not {"_static", "_sources"} & set(path.parts))
    assert any(page.name.startswith("03_") for page in pages), "the chapters are missing from the build"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems = []
    for page in pages:
        relative = page.relative_to(root).as_posix()
        browser.get_log("performance")  # drop the previous page's requests
        browser.get(f"{base}/{relative}")
        browser.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "const ready = () => document.readyState === 'complete';"
            "const wait = () => ready() ? (window.MathJax && MathJax.startup ? MathJax.startup.promise.then("
            "() => done(true)) : done(true)) : setTimeout(wait, 50); wait();")
        images = browser.execute_script(
            "return Array.from(document.images).map(i => [i.currentSrc || i.src, i.complete, i.naturalWidth]);")
        problems += [f"{relative}: image {src} did not load" for src, complete, width in images
                     if not (complete and width > 0)]
        if "\\(" in page.read_text() or "\\[" in page.read_text():
            typeset = browser.execute_script("return document.querySelectorAll('mjx-container').length;")
            if not typeset:
                problems.append(f"{relative}: equations were not typeset")
        hrefs = browser.execute_script("return Array.from(document.querySelectorAll('a[href]')).map(a => a.href);")
        problems += [f"{relative}: broken link {href}" for href in _broken_links(page, root, base, hrefs)]
        problems += [f"{relative}: requested {url}" for url in _requests(browser, base)
                     if not url.startswith((base, "data:", "blob:", "about:"))]
        if relative.startswith("book/0"):
            shot = SCREENSHOTS / f"{page.stem}.png"
            browser.save_screenshot(str(shot))
            if shot.stat().st_size < 10_000:
                problems.append(f"{relative}: the screenshot is nearly empty")
    assert not problems, "\n".join(problems)
    assert len(list(SCREENSHOTS.glob("0*.png"))) >= 4
