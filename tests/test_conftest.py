"""conftest.py's grouping for pytest-xdist: the book (chapters, build, browser) in one worker."""

import pytest

from conftest import xdist_unit


def test_the_chapters_the_build_and_the_browser_test_are_one_unit_and_unit_tests_their_own():
    book = ["chapters/trust.ipynb::Cell 0", "chapters/comparisons.ipynb::Cell 12",
            "tests/test_build.py::test_book_builds_with_warnings_as_errors",
            "tests/test_browser.py::test_chapter_page[trust]"]
    assert {xdist_unit(nodeid) for nodeid in book} == {"book"}
    unit = ["tests/test_cifar.py::test_augment", "tests/test_validate.py::test_finite_and_batch"]
    assert [xdist_unit(nodeid) for nodeid in unit] == unit


def test_the_grouping_is_registered_whenever_xdist_is_loaded(pytestconfig):
    if not pytestconfig.pluginmanager.hasplugin("xdist"):
        pytest.skip("pytest-xdist is not loaded (-p no:xdist)")
    assert any(type(p).__name__ == "BookInOneWorker" for p in pytestconfig.pluginmanager.get_plugins())
