"""The built book in a real browser: headless Chromium (Debian's package) driven by Playwright.

The book that tests/test_build.py builds (the ``built_book`` fixture of conftest.py) is served on 127.0.0.1,
and every chapter page is opened: every image has loaded, the math has rendered, the console has no errors
and no request leaves the machine; the search page finds a chapter; the launch links point at the paired
notebooks. A screenshot of the first chapter goes to _build/screenshots/ (not committed).

Browsers cannot be downloaded by Playwright here: the test uses /usr/bin/chromium (``apt-get install
chromium``; .ci/run does it), or the browser SHAP_BOOK_CHROMIUM names, with the flags in tests/chromium.py.
Without it the test is skipped, unless SHAP_BOOK_REQUIRE_BROWSER=1 (as in CI), which turns the skip into a
failure.
"""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from book_toc import notebook_chapters

from tests.chromium import CHROMIUM, FLAGS, require_chromium

ROOT = Path(__file__).resolve().parents[1]
# One known upstream defect, tolerated by its exact text and nothing else: in a jupyter-book 1.0.4 build,
# sphinx-thebe 0.3.1's set-up runs twice and every page declares `const THEBE_JS_URL` twice. Thebe is not
# used by this book (no live-code button). Remove this entry when the duplicate is gone.
KNOWN_UPSTREAM_ERRORS = {"Identifier 'THEBE_JS_URL' has already been declared"}

require_chromium()


@pytest.fixture(scope="module")
def site(built_book):
    """Serve the book that tests/test_build.py built (conftest.built_book) on 127.0.0.1; yield the base URL."""
    handler = functools.partial(QuietHandler, directory=str(built_book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield chromium
        chromium.close()


def open_page(browser, url: str):
    """Open ``url``; return the page, its console errors, and the requests that left 127.0.0.1."""
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    errors, outside = [], []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: None if str(exc) in KNOWN_UPSTREAM_ERRORS else errors.append(str(exc)))

    def request(req):
        if urlparse(req.url).hostname not in ("127.0.0.1", None) and not req.url.startswith("data:"):
            outside.append(req.url)

    page.on("request", request)
    page.goto(url, wait_until="networkidle")
    return page, errors, outside


@pytest.mark.parametrize("chapter", [p.stem for p in notebook_chapters()])
def test_chapter_page(site, browser, chapter):
    page, errors, outside = open_page(browser, f"{site}/chapters/{chapter}.html")
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    page.evaluate("() => MathJax.startup.promise")
    images = page.eval_on_selector_all("img", "els => els.map(e => [e.getAttribute('src'), e.naturalWidth])")
    figures = [src for src, _ in images if "_images/" in src]
    assert figures, f"{chapter} shows no figure"
    assert all(width > 0 for _, width in images), f"images that did not load: {images}"
    assert all(page.eval_on_selector_all("figure img", "els => els.map(e => e.alt.length > 0)")), "missing alt text"
    assert page.locator("mjx-container").count() > 0, "no math rendered"
    assert not page.locator("mjx-merror").count(), "MathJax reported a TeX error"
    assert not errors, f"console errors: {errors}"
    assert not outside, f"requests that left the machine: {outside}"
    if chapter == notebook_chapters()[0].stem:
        shots = ROOT / "_build" / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / f"{chapter}.png"), full_page=True)
    page.close()


def test_launch_links_point_at_the_paired_notebooks(site, browser):
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = config["repository"]["url"].rstrip("/")
    owner_repo = urlparse(repo).path.strip("/")
    branch = config["repository"]["branch"]
    chapter = notebook_chapters()[0].stem
    page, _, _ = open_page(browser, f"{site}/chapters/{chapter}.html")
    links = set(page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"))
    assert f"https://colab.research.google.com/github/{owner_repo}/blob/{branch}/chapters/{chapter}.ipynb" in links
    assert f"https://mybinder.org/v2/gh/{owner_repo}/{branch}?urlpath=tree/chapters/{chapter}.ipynb" in links
    assert repo in links
    assert f"{site}/_sources/chapters/{chapter}.ipynb" in links and f"{site}/_sources/chapters/{chapter}.md" in links
    page.close()


def test_search_finds_a_chapter_by_a_word_in_it(site, browser):
    page, errors, outside = open_page(browser, f"{site}/search.html?q=DeepExplainer")
    page.wait_for_selector("#search-results li a", timeout=20000)
    hits = page.eval_on_selector_all("#search-results li a", "els => els.map(e => e.getAttribute('href'))")
    assert any("deep_explanations" in h for h in hits), hits
    assert not errors and not outside
    page.close()
