"""The chapters listed in _toc.yml: each is a MyST notebook (the source) paired with a committed .ipynb.

nbval executes the .ipynb files (pytest collects chapters/); these tests make sure that what it executes is
what the book builds: the pair must hold the same cells. Regenerate a stale .ipynb with
`jupytext --to ipynb chapters/NAME.md` (never `--sync`, which trusts whichever file is newer).
"""

from pathlib import Path

import jupytext
import pytest
import yaml
from book_toc import notebook_chapters, toc_files

ROOT = Path(__file__).resolve().parents[1]


def cells(path: Path) -> list[tuple]:
    notebook = jupytext.read(path)
    return [(c.cell_type, c.source.strip(), sorted(c.metadata.get("tags", [])), c.metadata.get("mystnb"))
            for c in notebook.cells]


def test_toc_lists_every_chapter():
    listed = {ROOT / f"{name}.md" for name in toc_files()}
    on_disk = set((ROOT / "chapters").glob("*.md"))
    assert on_disk <= listed, f"chapters missing from _toc.yml: {sorted(p.name for p in on_disk - listed)}"
    assert notebook_chapters(), "no notebook chapter found in _toc.yml"


@pytest.mark.parametrize("source", notebook_chapters(), ids=lambda p: p.name)
def test_paired_notebook_matches_source(source: Path):
    paired = source.with_suffix(".ipynb")
    assert paired.is_file(), f"{paired.name} is missing: run `jupytext --to ipynb {source.relative_to(ROOT)}`"
    assert cells(paired) == cells(source), (
        f"{paired.name} differs from {source.name}: run `jupytext --to ipynb {source.relative_to(ROOT)}`")
    assert jupytext.read(source).metadata["jupytext"]["formats"] == "ipynb,md:myst"


@pytest.mark.parametrize("source", notebook_chapters(), ids=lambda p: p.name)
def test_paired_notebook_has_no_outputs(source: Path):
    notebook = jupytext.read(source.with_suffix(".ipynb"))
    stored = [i for i, c in enumerate(notebook.cells) if c.cell_type == "code" and c.get("outputs")]
    assert not stored, f"{source.with_suffix('.ipynb').name} stores outputs in cells {stored}; regenerate it"


@pytest.mark.parametrize("source", notebook_chapters(), ids=lambda p: p.name)
def test_colab_cell_installs_from_the_configured_repository(source: Path):
    """The first code cell installs helpers in Colab only, from the repository _config.yml names."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    url = f"git+{config['repository']['url']}@{config['repository']['branch']}"
    first = next(c for c in jupytext.read(source).cells if c.cell_type == "code")
    assert 'if "google.colab" in sys.modules:' in first.source and f'"{url}"' in first.source
    assert "remove-cell" in first.metadata.get("tags", [])


@pytest.mark.parametrize("source", [*notebook_chapters(), ROOT / "templates" / "chapter.md"],
                         ids=lambda p: p.name)
def test_glue_calls_live_in_hidden_cells_and_take_the_text(source: Path):
    """One convention: the values the prose quotes are glued in cells tagged remove-cell (hidden in the book,
    visible in a notebook), as glue(name, text); the code a reader is taught carries no glue calls."""
    import ast

    for index, cell in enumerate(jupytext.read(source).cells):
        if cell.cell_type != "code" or "glue(" not in cell.source:
            continue
        calls = [node for node in ast.walk(ast.parse(cell.source)) if isinstance(node, ast.Call)
                 and isinstance(node.func, ast.Name) and node.func.id == "glue"]
        assert "remove-cell" in cell.metadata.get("tags", []), (
            f"{source.name}, cell {index}: glue calls in a visible cell; move them to a remove-cell cell after it")
        for call in calls:
            assert len(call.args) == 2 and not call.keywords, (
                f"{source.name}, cell {index}: {ast.unparse(call)} is not glue(name, text)")


@pytest.mark.parametrize("source", [*notebook_chapters(), ROOT / "templates" / "chapter.md"],
                         ids=lambda p: p.name)
def test_chapter_code_fits_the_page(source: Path):
    """Code lines at most 88 characters, the width the book's theme shows without scrolling."""
    long = [(index, line) for index, cell in enumerate(jupytext.read(source).cells) if cell.cell_type == "code"
            for line in cell.source.splitlines() if len(line) > 88]
    assert not long, f"{source.name}: {len(long)} code lines over 88 characters, e.g. cell {long[0][0]}: {long[0][1]}"


@pytest.mark.parametrize("source", [*notebook_chapters(), ROOT / "templates" / "chapter.md"],
                         ids=lambda p: p.name)
def test_every_exercise_has_one_solution_that_ends(source: Path):
    """sphinx-exercise stops the whole build on a solution-start without its solution-end; catch it here, per
    exercise, in seconds: the directives must come in the order exercise, solution-start, solution-end."""
    import re

    text = source.read_text()
    kinds = re.findall(r"^```\{(exercise|solution-start|solution-end)\}", text, flags=re.MULTILINE)
    expected = ["exercise", "solution-start", "solution-end"] * (len(kinds) // 3)
    assert kinds == expected, f"{source.name}: exercise directives out of order: {kinds}"
    labels = re.findall(r"^```\{exercise\}\n:label: (\S+)", text, flags=re.MULTILINE)
    starts = re.findall(r"^```\{solution-start\} (\S+)", text, flags=re.MULTILINE)
    assert labels == starts, f"{source.name}: solutions {starts} do not follow exercises {labels}"
