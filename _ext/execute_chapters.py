"""Execute the book's chapters a few at a time, then let Jupyter Book build from their outputs.

Build tooling, not part of the ``helpers`` package readers install. ``make book`` runs

    python _ext/execute_chapters.py --jobs 2 --out _build/executed

which executes every notebook chapter (:func:`book_toc.notebook_chapters`; its paired ``.ipynb``, whose code
cells are the MyST source's, as tests/test_chapters.py checks) in its own kernel, ``--jobs`` at a time, with
the environment's ``SHAP_BOOK_PROFILE`` and ``SHAP_BOOK_DATA``; puts the executed notebooks into a jupyter-cache
under ``--out``; and writes there a copy of ``_config.yml`` that builds from that cache
(``execute_notebooks: cache``). ``jupyter-book build --config _build/executed/_config.yml .`` then renders the
book without executing anything again: myst-nb finds each chapter in the cache by the hash of its code cells.

Jupyter Book itself executes chapters one after another. On two cores, two chapters at a time finish the book
sooner (the benchmarks page measures by how much): the second kernel uses the time a chapter leaves a core idle
(Python between TensorFlow's calls, plotting, shap's own loops), while work that keeps both cores busy, such
as VGG19's passes, only takes longer when another chapter runs beside it. A chapter that needs
the CIFAR-10 network another one is training waits for it (:func:`helpers.cifar.trained_cnn` holds a lock), so
the longest chapters of the last benchmark start first. The conftest's build test reuses
:func:`cache_executed` for the notebooks nbval executed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 3600  # seconds per cell, as _config.yml's execute.timeout


def cache_executed(notebooks: dict[Path, object], out: Path) -> Path:
    """Put executed notebooks (``{chapter's MyST source: notebook}``) into a jupyter-cache under ``out`` and
    write there a configuration that builds from it (``execute_notebooks: cache``); return its path."""
    import jupytext
    import yaml
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(out / "jupyter_cache")
    for path, notebook in notebooks.items():
        cache.cache_notebook_bundle(CacheBundleIn(notebook, str(path)), check_validity=False, overwrite=True)
        # myst-nb finds a chapter by the hash of its MyST source's code cells, their metadata and its kernelspec;
        # a notebook that does not match would be executed again by the build, one chapter at a time
        try:
            cache.match_cache_notebook(jupytext.read(path))
        except KeyError:
            raise RuntimeError(f"the executed notebook of {path.name} does not match its MyST source (code, cell "
                               "metadata or kernelspec differ): run jupytext --sync on it") from None
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"].update(execute_notebooks="cache", cache=str(out / "jupyter_cache"))
    # jupyter-book finds local extensions relative to the configuration file, which now lives in `out`
    extensions = config["sphinx"]["local_extensions"]
    config["sphinx"]["local_extensions"] = {name: str(ROOT / path) for name, path in extensions.items()}
    target = out / "_config.yml"
    target.write_text(yaml.safe_dump(config, sort_keys=False))
    return target


def longest_first(chapters: list[Path], results: Path = ROOT / "benchmarks" / "results.json") -> list[Path]:
    """``chapters`` ordered by their full-profile time in the last benchmark, longest first (chapters it does
    not list keep their reading order, after the others): with two at a time, the book then ends soonest."""
    try:
        measured = json.loads(results.read_text()).get("chapters", {})
    except (OSError, ValueError):
        measured = {}

    def seconds(path: Path) -> float:
        return measured.get(path.stem, {}).get("full", {}).get("seconds", -1.0)

    return sorted(chapters, key=seconds, reverse=True)  # stable: unmeasured ones keep the reading order


def execute(chapter: Path) -> tuple[object, float]:
    """Execute ``chapter``'s paired notebook in a fresh kernel started in its folder; return it and the
    seconds it took. A failing cell raises nbclient's error, which names the cell and shows its traceback."""
    import nbclient
    import nbformat

    notebook = nbformat.read(chapter.with_suffix(".ipynb"), as_version=4)
    start = time.perf_counter()
    # record_timing=False: timing in the cells' metadata would change the hash the build finds them by
    nbclient.NotebookClient(notebook, timeout=TIMEOUT, kernel_name=notebook.metadata.kernelspec.name,
                            allow_errors=False, record_timing=False,
                            resources={"metadata": {"path": str(chapter.parent)}}).execute()
    return notebook, time.perf_counter() - start


def main(argv: list[str] | None = None, chapters: list[Path] | None = None) -> int:
    """Execute ``chapters`` (by default the book's) as the command line says; return the exit status."""
    from book_toc import notebook_chapters

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="chapters executed at a time (default 2)")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "executed",
                        help="folder for the cache and the configuration (emptied first)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs {args.jobs}: give 1 or more chapters at a time")
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    chapters = notebook_chapters() if chapters is None else chapters
    start = time.perf_counter()
    executed: dict[Path, object] = {}
    context = multiprocessing.get_context("spawn")
    failed = []
    with ProcessPoolExecutor(args.jobs, mp_context=context) as pool:
        running = {pool.submit(execute, chapter): chapter for chapter in longest_first(chapters)}
        for future in as_completed(running):
            chapter = running[future]
            if future.cancelled():
                continue
            if future.exception() is not None:
                failed.append(f"{chapter.name}: {future.exception()}")
                for other in running:  # the chapters not started yet; the running ones finish
                    other.cancel()
                continue
            executed[chapter], seconds = future.result()
            print(f"execute_chapters: {chapter.name} executed in {seconds:.0f} s", flush=True)
    if failed:
        print("execute_chapters: a chapter failed, so the book is not built:\n" + "\n".join(failed),
              file=sys.stderr)
        return 1
    config = cache_executed({c: executed[c] for c in chapters}, args.out)
    print(f"execute_chapters: {len(chapters)} chapters, {args.jobs} at a time, in "
          f"{time.perf_counter() - start:.0f} s; build with --config {config}", flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
