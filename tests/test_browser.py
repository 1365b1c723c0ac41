"""The built book in a real browser: headless Chromium (Debian's package) driven by Playwright.

The book is built in the quick profile into a temporary folder, served on 127.0.0.1, and every chapter page
is opened: every image has loaded, the math has rendered, the console has no errors and no request leaves
the machine; the search page finds a chapter; the launch links point at the paired notebooks. A screenshot
of the first chapter goes to _build/screenshots/ (not committed).

Browsers cannot be downloaded by Playwright here: the test uses /usr/bin/chromium (``apt-get install
chromium``; .ci/run does it), or the browser SHAP_BOOK_CHROMIUM names, with the flags in tests/chromium.py.
Without it the test is skipped, unless SHAP_BOOK_REQUIRE_BROWSER=1 (as in CI), which turns the skip into a
failure.
"""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from conftest import EXECUTED
from helpers.book import notebook_chapters
from tests.chromium import CHROMIUM, FLAGS, require_chromium

ROOT = Path(__file__).resolve().parents[1]
# One known upstream defect, tolerated by its exact text and nothing else: in a jupyter-book 1.0.4 build,
# sphinx-thebe 0.3.1's set-up runs twice and every page declares `const THEBE_JS_URL` twice. Thebe is not
# used by this book (no live-code button). Remove this entry when the duplicate is gone.
KNOWN_UPSTREAM_ERRORS = {"Identifier 'THEBE_JS_URL' has already been declared"}

require_chromium()


@pytest.fixture(scope="module")
def site(request, tmp_path_factory):
    """Build the book (quick profile) and serve it on 127.0.0.1; yield the base URL.

    When nbval has just executed every chapter in this test run (as `make test` and CI do: the chapters are
    collected before this test), the build takes their outputs from a jupyter-cache filled with those
    executed notebooks, so no chapter runs twice; the build log must then show no execution. Otherwise (this
    file run alone) the build executes the chapters itself.
    """
    out = tmp_path_factory.mktemp("book")
    env = {**os.environ, "SHAP_BOOK_PROFILE": os.environ.get("SHAP_BOOK_PROFILE", "quick")}
    command = [str(Path(sys.executable).with_name("jupyter-book")), "build", "--all", "--warningiserror", "--nitpick",
               "--keep-going", "--path-output", str(out)]
    executed = request.config.stash[EXECUTED]
    chapters = notebook_chapters()
    reuse = all(path.with_suffix(".ipynb") in executed for path in chapters)
    if reuse:
        command += ["--config", str(cache_executed_chapters(executed, chapters, out))]
    build = subprocess.run([*command, str(ROOT)], capture_output=True, text=True, env=env, check=False)
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
    if reuse:
        assert "Executed notebook in" not in build.stdout, "a chapter was executed again:\n" + build.stdout[-4000:]
        assert build.stdout.count("Using cached notebook") == len(chapters), build.stdout[-4000:]
    handler = functools.partial(QuietHandler, directory=str(out / "_build" / "html"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def cache_executed_chapters(executed: dict, chapters: list[Path], out: Path) -> Path:
    """Put the notebooks nbval executed into a jupyter-cache under ``out`` and write a configuration that
    builds from it (execute_notebooks: cache). Return the configuration's path.

    myst-nb looks a chapter up in the cache by the hash of its code cells and kernelspec, which the paired
    notebook shares with its MyST source (tests/test_chapters.py checks the pair), so the book is built from
    the same sources as `make book`, with nbval's outputs.
    """
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    failed = [path.name for path in chapters if executed[path.with_suffix(".ipynb")]["failed"]]
    assert not failed, f"chapters that failed under nbval (see their cells above): {failed}"
    cache = get_cache(out / "jupyter_cache")
    for path in chapters:
        record = executed[path.with_suffix(".ipynb")]
        code_cells = sum(cell.cell_type == "code" for cell in record["notebook"].cells)
        assert record["cells"] == code_cells, f"nbval ran {record['cells']} of {code_cells} cells of {path.name}"
        cache.cache_notebook_bundle(CacheBundleIn(record["notebook"], str(path)), check_validity=False,
                                    overwrite=True)
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"].update(execute_notebooks="cache", cache=str(out / "jupyter_cache"))
    # jupyter-book finds local extensions relative to the configuration file, which now lives in `out`
    extensions = config["sphinx"]["local_extensions"]
    config["sphinx"]["local_extensions"] = {name: str(ROOT / path) for name, path in extensions.items()}
    target = out / "_config.yml"
    target.write_text(yaml.safe_dump(config, sort_keys=False))
    return target


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
