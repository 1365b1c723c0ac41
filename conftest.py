"""pytest set-up shared by the unit tests, the nbval run of the chapters and the browser test.

The chapters run in the quick profile unless SHAP_BOOK_PROFILE says otherwise; the kernels nbval starts
inherit this process's environment.

Each chapter is executed once per test run: nbval executes the paired notebooks (in the book's reading order),
the hooks below keep the outputs nbval saw, and the browser test (collected last) builds the book from those
executed notebooks instead of executing every chapter again (tests/test_browser.py).
"""

import os
from pathlib import Path

import pytest

os.environ.setdefault("SHAP_BOOK_PROFILE", "quick")
# nbval's kernels start in chapters/: a relative data directory must be made absolute here.
if os.environ.get("SHAP_BOOK_DATA"):
    os.environ["SHAP_BOOK_DATA"] = str(Path(os.environ["SHAP_BOOK_DATA"]).resolve())
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# path of each notebook nbval executed -> {"notebook": the notebook with nbval's outputs, "cells": how many
# code cells ran, "failed": whether any failed}
EXECUTED = pytest.StashKey[dict]()


def pytest_configure(config):
    config.stash[EXECUTED] = {}


def pytest_report_header(config):
    return (f"book profile: {os.environ['SHAP_BOOK_PROFILE']}; "
            f"data: {os.environ.get('SHAP_BOOK_DATA') or 'canonical downloads (SHAP_BOOK_DATA unset)'}")


def _is_notebook_cell(item) -> bool:
    return hasattr(item, "cell") and hasattr(item.parent, "nb")


def pytest_collection_modifyitems(session, config, items):
    """Run the chapters in the book's reading order (a later chapter may reuse what an earlier one saved),
    after the unit tests, and the browser test last (it builds the book from the executed chapters)."""
    from helpers.book import notebook_chapters

    order = {path.with_suffix(".ipynb"): rank for rank, path in enumerate(notebook_chapters())}

    def key(item):
        if _is_notebook_cell(item):
            return (1, order.get(Path(item.parent.path), len(order)))
        return (2 if Path(item.path).name == "test_browser.py" else 0, 0)

    items.sort(key=key)  # stable: cells keep their order within a notebook


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if call.when != "call" or not _is_notebook_cell(item):
        return
    item.cell.outputs = list(getattr(item, "test_outputs", []))
    report = outcome.get_result()
    # The rendered book shows no warnings or standard-error noise: a cell that writes to stderr fails.
    noise = [output.get("text", "") for output in item.cell.outputs
             if output.get("output_type") == "stream" and output.get("name") == "stderr"]
    if noise and report.passed:
        report.outcome = "failed"
        report.longrepr = ("the cell wrote to standard error, which the rendered book would show:\n"
                           + "".join(noise)[:3000])
    record = item.config.stash[EXECUTED].setdefault(
        Path(item.parent.path), {"notebook": item.parent.nb, "cells": 0, "failed": False})
    record["cells"] += 1
    record["failed"] |= report.failed
