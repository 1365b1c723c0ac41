"""_ext/book_toc.py: the table of contents as the tests and the benchmark read it."""

import subprocess
import sys
from pathlib import Path

from book_toc import ROOT, notebook_chapters, toc_files


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


def test_the_build_tooling_loads_no_tensorflow():
    """The Sphinx extension reads the table of contents without importing the helpers package (which loads
    TensorFlow): a fresh interpreter imports both and lists the chapters with TensorFlow still unloaded."""
    code = ("import sys; sys.path.insert(0, '_ext'); import book_costs, book_toc; book_toc.notebook_chapters(); "
            "print('tensorflow' in sys.modules, 'helpers' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"], done.stdout + done.stderr
