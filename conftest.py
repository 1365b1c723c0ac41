"""pytest set-up shared by the unit tests, the nbval run of the chapters and the browser test.

The chapters run in the quick profile unless SHAP_BOOK_PROFILE says otherwise; the kernels nbval starts
inherit this process's environment.

Each chapter is executed once per test run: nbval executes the paired notebooks (in the book's reading order),
the hooks below keep the outputs nbval saw, and the build test (collected after them, tests/test_build.py)
builds the book from those executed notebooks instead of executing every chapter again; the browser test
(tests/test_browser.py, last) opens the pages of that build.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
# the build tooling (_ext/book_toc.py, the table of contents), importable as the Sphinx extensions import it
sys.path.insert(0, str(ROOT / "_ext"))

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
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(BookInOneWorker())


def pytest_report_header(config):
    return (f"book profile: {os.environ['SHAP_BOOK_PROFILE']}; "
            f"data: {os.environ.get('SHAP_BOOK_DATA') or 'canonical downloads (SHAP_BOOK_DATA unset)'}")


def _is_notebook_cell(item) -> bool:
    return hasattr(item, "cell") and hasattr(item.parent, "nb")


BOOK_TESTS = ("test_build.py", "test_browser.py")  # in the order they run, after the chapters


def xdist_unit(nodeid: str) -> str:
    """The unit of work a test belongs to under pytest-xdist: "book" for the chapters' cells, the build test
    and the browser test; the test itself otherwise."""
    path = nodeid.split("::", 1)[0]
    return "book" if path.startswith("chapters/") or Path(path).name in BOOK_TESTS else nodeid


class BookInOneWorker:
    """With pytest-xdist (`make test` runs ``pytest -n 2``): the chapters, the build test and the browser test
    go to one worker as one unit, in the order below and in one process, since the build takes the chapters'
    outputs from that process; the other worker runs the unit tests meanwhile, each test its own unit.
    (xdist's own ``--dist loadgroup`` marks a group by renaming the test, which pytest 9 no longer allows.)"""

    @staticmethod
    def pytest_xdist_make_scheduler(config, log):
        from xdist.scheduler import LoadScopeScheduling

        class Scheduler(LoadScopeScheduling):
            def _split_scope(self, nodeid: str) -> str:
                return xdist_unit(nodeid)

        return Scheduler(config, log)


def pytest_collection_modifyitems(session, config, items):
    """Run the chapters in the book's reading order (a later chapter may reuse what an earlier one saved),
    after the unit tests, then the build test (it builds the book from the executed chapters), and the
    browser test last (it opens that build)."""
    from book_toc import notebook_chapters

    order = {path.with_suffix(".ipynb"): rank for rank, path in enumerate(notebook_chapters())}

    def key(item):
        if _is_notebook_cell(item):
            return (1, order.get(Path(item.parent.path), len(order)))
        name = Path(item.path).name
        return (2 + BOOK_TESTS.index(name), 0) if name in BOOK_TESTS else (0, 0)

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


@pytest.fixture(scope="session")
def built_book(request, tmp_path_factory) -> Path:
    """Build the book with warnings as errors (`--warningiserror --nitpick`, as `make book` does) into a
    temporary folder; return its HTML folder. A failing cell, a stderr line, a Sphinx warning fail the build.

    When nbval has just executed every chapter in this test run (as `make test` and CI do: the chapters are
    collected before this test), the build takes their outputs from a jupyter-cache filled with those
    executed notebooks, so no chapter runs twice; the build log must then show no execution. Otherwise (this
    fixture used alone) the build executes the chapters itself.
    """
    out = tmp_path_factory.mktemp("book")
    env = {**os.environ, "SHAP_BOOK_PROFILE": os.environ.get("SHAP_BOOK_PROFILE", "quick")}
    command = [str(Path(sys.executable).with_name("jupyter-book")), "build", "--all", "--warningiserror", "--nitpick",
               "--keep-going", "--path-output", str(out)]
    from book_toc import notebook_chapters

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
    return out / "_build" / "html"


def cache_executed_chapters(executed: dict, chapters: list[Path], out: Path) -> Path:
    """Put the notebooks nbval executed into a jupyter-cache under ``out`` and write a configuration that
    builds from it (execute_notebooks: cache), as `make book` does with the chapters it executes
    (_ext/execute_chapters.py). Return the configuration's path.

    myst-nb looks a chapter up in the cache by the hash of its code cells, their metadata and its kernelspec,
    which the paired notebook shares with its MyST source (tests/test_chapters.py checks the pair;
    ``cache_executed`` refuses a notebook the build would not find), so the book is built from the same
    sources as `make book`, with nbval's outputs.
    """
    from execute_chapters import cache_executed

    failed = [path.name for path in chapters if executed[path.with_suffix(".ipynb")]["failed"]]
    assert not failed, f"chapters that failed under nbval (see their cells above): {failed}"
    notebooks = {}
    for path in chapters:
        record = executed[path.with_suffix(".ipynb")]
        code_cells = sum(cell.cell_type == "code" for cell in record["notebook"].cells)
        assert record["cells"] == code_cells, f"nbval ran {record['cells']} of {code_cells} cells of {path.name}"
        notebooks[path] = record["notebook"]
    return cache_executed(notebooks, out)
