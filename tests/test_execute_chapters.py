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
    """A one-cell chapter, a MyST source with its paired notebook (which is what runs); the source's path."""
    import jupytext

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code, metadata={"tags": ["t"]})])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, folder / f"{name}.ipynb")
    jupytext.write(notebook, folder / f"{name}.md", fmt="md:myst")
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
    chapters = [chapter(tmp_path, name, f"print(open('data.txt').read(), {n})") for n, name in ((1, "one"), (2, "two"))]
    out = tmp_path / "out"
    assert execute_chapters.main(["--jobs", "2", "--out", str(out)], chapters) == 0
    printed = capsys.readouterr().out
    assert "one.md executed in" in printed and "two.md executed in" in printed
    from jupyter_cache import get_cache

    cache = get_cache(out / "jupyter_cache")
    outputs = {Path(r.uri).name: cache.get_cache_bundle(r.pk).nb.cells[0].outputs[0]["text"]
               for r in cache.list_cache_records()}
    assert outputs == {"one.md": "in the chapter's folder 1\n", "two.md": "in the chapter's folder 2\n"}
    config = (out / "_config.yml").read_text()
    assert "execute_notebooks: cache" in config and str(out / "jupyter_cache") in config
    # what the build looks the chapter up by: its MyST source (a miss would execute it again)
    import jupytext

    assert get_cache(out / "jupyter_cache").match_cache_notebook(jupytext.read(chapters[0])).uri == str(chapters[0])


def test_a_failing_chapter_stops_the_build_starts_no_other_and_is_named(tmp_path, capsys):
    (tmp_path / "ran.txt").write_text("")
    chapters = [chapter(tmp_path, "broken", "raise ValueError('no data')")] + [
        chapter(tmp_path, name, f"open('ran.txt', 'a').write('{name}')") for name in ("later", "last")]
    out = tmp_path / "out"
    assert execute_chapters.main(["--jobs", "1", "--out", str(out)], chapters) == 1
    err = capsys.readouterr().err
    assert "broken.md" in err and "ValueError" in err and "no data" in err
    assert (tmp_path / "ran.txt").read_text() == "", "a chapter started after one had failed"
    assert not (out / "_config.yml").exists()


def test_a_stale_pair_is_refused_before_anything_runs(tmp_path, capsys):
    """The build would execute such a chapter again, one at a time: say so and how to pair them, at once."""
    (tmp_path / "ran.txt").write_text("")
    fine = chapter(tmp_path, "fine", "open('ran.txt', 'a').write('fine')")
    source = chapter(tmp_path, "edited", "x = 1")
    source.write_text(source.read_text().replace("x = 1", "x = 2"))
    assert execute_chapters.main(["--out", str(tmp_path / "out")], [fine, source]) == 1
    err = capsys.readouterr().err
    assert "the notebook of edited.md does not match its MyST source" in err and "jupytext --to ipynb" in err
    assert (tmp_path / "ran.txt").read_text() == ""


def test_an_executed_notebook_the_build_would_not_find_is_refused(tmp_path):
    """Metadata written while executing (here nbclient's timing) changes the hash the build looks chapters up by."""
    source = chapter(tmp_path, "timed", "x = 1")
    notebook = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    notebook.cells[0].metadata["execution"] = {"iopub.execute_input": "2026-11-30T18:00:33.251135Z"}
    with pytest.raises(RuntimeError, match="the executed notebook of timed.md does not match"):
        execute_chapters.cache_executed({source: notebook}, tmp_path / "out")


def test_jobs_must_be_positive(tmp_path):
    with pytest.raises(SystemExit):
        execute_chapters.main(["--jobs", "0", "--out", str(tmp_path / "out")], [])
