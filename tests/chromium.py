"""The browser the tests drive: Debian's Chromium, launched by Playwright (tests/test_browser.py, test_lab.py).

Playwright cannot download browsers here: the tests use /usr/bin/chromium (``apt-get install chromium``;
.ci/run does it), or the browser SHAP_BOOK_CHROMIUM names. Without it a browser test is skipped, unless
SHAP_BOOK_REQUIRE_BROWSER=1 (as in CI), which turns the skip into a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("SHAP_BOOK_CHROMIUM", "/usr/bin/chromium"))
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-default-apps"]


def require_chromium() -> None:
    """Skip the calling test module when there is no browser, or fail if SHAP_BOOK_REQUIRE_BROWSER=1.

    Call it at the top of the module, before its tests are collected."""
    if CHROMIUM.is_file():
        return
    if os.environ.get("SHAP_BOOK_REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"{CHROMIUM} is missing and SHAP_BOOK_REQUIRE_BROWSER=1: apt-get install chromium")
    pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium to run the browser tests", allow_module_level=True)
