"""The book's own table of contents: which pages are notebook chapters, in reading order.

Build tooling, not part of the ``helpers`` package readers install: used by the Sphinx extension
``book_costs`` (Jupyter Book puts ``_ext/`` on the path), the tests (``conftest.py`` puts it there too: nbval's
order, the paired-notebook checks, the browser test) and the benchmark, so that the list of chapters is defined
once: every page ``_toc.yml`` lists whose MyST source has a kernelspec. Importing it loads no TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def toc_files(root: Path = ROOT) -> list[str]:
    """Every page ``_toc.yml`` lists (the root page first), in reading order, without file suffixes."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"]]
    stack = list(toc.get("chapters", [])) + [c for p in toc.get("parts", []) for c in p.get("chapters", [])]
    while stack:
        entry = stack.pop(0)
        files.append(entry["file"])
        stack.extend(entry.get("sections", []))
    return files


def notebook_chapters(root: Path = ROOT) -> list[Path]:
    """The MyST sources (``chapters/NAME.md``) of the pages that are notebooks, in reading order."""
    import jupytext

    chapters = []
    for name in toc_files(root):
        path = root / f"{name}.md"
        if path.is_file() and "kernelspec" in jupytext.read(path).metadata:
            chapters.append(path)
    return chapters
