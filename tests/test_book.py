"""helpers.book: the table of contents as the tests and the benchmark read it."""

from pathlib import Path

from helpers.book import ROOT, notebook_chapters, toc_files


def test_chapters_are_the_notebook_pages_of_the_toc_in_reading_order():
    chapters = notebook_chapters()
    assert chapters and all(path.suffix == ".md" and path.parent.name == "chapters" for path in chapters)
    listed = [ROOT / f"{name}.md" for name in toc_files()]
    assert [p for p in listed if p in chapters] == chapters  # the TOC's order
    assert ROOT / "chapters" / "benchmarks.md" not in chapters  # a page without a kernelspec is no notebook


def test_toc_files_reads_nested_sections(tmp_path: Path):
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\nparts:\n  - chapters:\n      - file: a\n"
                                       "        sections:\n          - file: b\n      - file: c\n")
    assert toc_files(tmp_path) == ["intro", "a", "c", "b"]
