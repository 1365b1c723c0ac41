"""_ext/execute_chapters.py, the first step of `make book`: chapters executed a few at a time, then cached for
the build; a failing chapter stops the build and is named."""

import json
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))

import execute_chapters  # noqa: E402


def chapter(folder: Path, name: str, code: str) -> Path:
    """A one-cell chapter: its MyST source's path (the notebook beside it is what runs)."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, folder / f"{name}.ipynb")
    return folder / f"{name}.md"


def test_longest_chapters_of_the_last_benchmark_start_first(tmp_path):
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"chapters": {"a": {"full": {"seconds": 10}}, "c": {"full": {"seconds": 30}}}}))
    chapters = [Path(f"chapters/{n}.md") for n in ("a", "b", "c", "d")]
    assert [p.stem for p in execute_chapters.longest_first(chapters, results)] == ["c", "a", "b", "d"]
    # no benchmark yet: the reading order
    assert execute_chapters.longest_first(chapters, tmp_path / "absent.json") == chapters


def test_chapters_run_in_their_folder_and_are_cached_for_the_build(tmp_path, capsys):
    (tmp_path / "data.txt").write_text("in the chapter's folder")
    chapters = [chapter(tmp_path, name, "print(open('data.txt').read(), 1 + 1)") for name in ("one", "two")]
    out = tmp_path / "out"
    assert execute_chapters.main(["--jobs", "2", "--out", str(out)], chapters) == 0
    printed = capsys.readouterr().out
    assert "one.md executed in" in printed and "two.md executed in" in printed
    from jupyter_cache import get_cache

    cached = get_cache(out / "jupyter_cache").list_cache_records()
    assert sorted(Path(r.uri).name for r in cached) == ["one.md", "two.md"]
    notebook = get_cache(out / "jupyter_cache").get_cache_bundle(cached[0].pk).nb
    assert notebook.cells[0].outputs[0]["text"] == "in the chapter's folder 2\n"
    config = (out / "_config.yml").read_text()
    assert "execute_notebooks: cache" in config and str(out / "jupyter_cache") in config


def test_a_failing_chapter_stops_the_build_and_is_named(tmp_path, capsys):
    chapters = [chapter(tmp_path, "fine", "x = 1"), chapter(tmp_path, "broken", "raise ValueError('no data')")]
    out = tmp_path / "out"
    assert execute_chapters.main(["--jobs", "1", "--out", str(out)], chapters) == 1
    err = capsys.readouterr().err
    assert "broken.md" in err and "ValueError" in err and "no data" in err
    assert not (out / "_config.yml").exists()


def test_jobs_must_be_positive(tmp_path):
    with pytest.raises(SystemExit):
        execute_chapters.main(["--jobs", "0", "--out", str(tmp_path / "out")], [])
