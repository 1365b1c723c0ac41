"""The book builds with warnings as errors, as `make book` builds it: a failing cell, anything a chapter writes
to stderr, an unknown {cite} key or {glue:text} name, or any other Sphinx warning fails this test. It runs
whether or not a browser exists (tests/test_browser.py, which opens this build's pages, needs one)."""

from book_toc import notebook_chapters


def test_book_builds_with_warnings_as_errors(built_book):
    assert (built_book / "index.html").is_file()
    missing = [p.stem for p in notebook_chapters() if not (built_book / "chapters" / f"{p.stem}.html").is_file()]
    assert not missing, f"chapters without a page: {missing}"
