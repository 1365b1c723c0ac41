"""Execute the book's chapters a few at a time, then let Jupyter Book build from their outputs.

Build tooling, not part of the ``helpers`` package readers install. ``make book`` runs

    python _ext/execute_chapters.py --jobs 2 --out _build/executed

which executes every notebook chapter (:func:`book_toc.notebook_chapters`; its paired ``.ipynb``, whose code
cells are the MyST source's, as tests/test_chapters.py checks) in its own kernel, ``--jobs`` at a time, with
the environment's ``SHAP_BOOK_PROFILE`` and ``SHAP_BOOK_DATA``; puts the executed notebooks into a jupyter-cache
under ``--out``; and writes there a copy of ``_config.yml`` that builds from that cache
(``execute_notebooks: cache``). ``jupyter-book build --config _build/executed/_config.yml .`` then renders the
book without executing anything again: myst-nb finds each chapter in the cache by the hash of its code cells,
their metadata and its kernelspec, which this script checks for every chapter before and after executing.

Jupyter Book itself executes chapters one after another. On two cores, two at a time can finish the book sooner
(the benchmarks page measures by how much): the second kernel uses the time a chapter leaves a core idle
(Python between TensorFlow's calls, plotting, shap's own loops), while work that keeps both cores busy, such
as VGG19's passes, only takes longer when another chapter runs beside it. The longest chapters of the last
benchmark start first, a heuristic that usually shortens the whole. A chapter that needs the CIFAR-10 network
while another one trains it waits for it (:func:`helpers.cifar.trained_cnn` holds a lock) rather than training
it twice. The conftest's build test reuses :func:`cache_executed` for the notebooks nbval executed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _config() -> dict:
    import yaml

    return yaml.safe_load((ROOT / "_config.yml").read_text())


def _hash(cache, notebook) -> str:
    return cache.create_hashed_notebook(notebook)[1]


def _source(chapter: Path):
    """The chapter's MyST source as myst-nb reads it (what the build looks the cache up with)."""
    from myst_nb.core.read import read_myst_markdown_notebook

    return read_myst_markdown_notebook(chapter.read_text(), path=chapter)


def _mismatch(chapter: Path, what: str) -> RuntimeError:
    shown = chapter.relative_to(ROOT) if chapter.is_relative_to(ROOT) else chapter
    return RuntimeError(f"{what} of {chapter.name} does not match its MyST source (code cells, their metadata or "
                        f"the kernelspec differ), so the build would execute it again: pair them with "
                        f"`jupytext --to ipynb {shown}`, then run this again")


def cache_executed(notebooks: dict[Path, object], out: Path, seconds: dict[Path, float] | None = None) -> Path:
    """Put executed notebooks (``{chapter's MyST source: notebook}``) into a jupyter-cache under ``out`` (with the
    seconds each took, where given) and write there a configuration that builds from it
    (``execute_notebooks: cache``); return its path. A notebook the build would not find is refused."""
    import yaml
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(out / "jupyter_cache")
    for path, notebook in notebooks.items():
        data = {"execution_seconds": seconds[path]} if seconds and path in seconds else {}
        cache.cache_notebook_bundle(CacheBundleIn(notebook, str(path), data=data), check_validity=False,
                                    overwrite=True)
        try:
            cache.match_cache_notebook(_source(path))
        except KeyError:
            raise _mismatch(path, "the executed notebook") from None
    config = _config()
    config["execute"].update(execute_notebooks="cache", cache=str(out / "jupyter_cache"))
    # jupyter-book finds local extensions relative to the configuration file, which now lives in `out`
    extensions = config["sphinx"]["local_extensions"]
    config["sphinx"]["local_extensions"] = {name: str(ROOT / path) for name, path in extensions.items()}
    target = out / "_config.yml"
    target.write_text(yaml.safe_dump(config, sort_keys=False))
    return target


def longest_first(chapters: list[Path], results: Path = ROOT / "benchmarks" / "results.json") -> list[Path]:
    """``chapters`` ordered by their full-profile time in the last benchmark, longest first (chapters it does
    not list keep their reading order, after the others)."""
    try:
        measured = json.loads(results.read_text()).get("chapters", {})
    except (OSError, ValueError):
        measured = {}

    def seconds(path: Path) -> float:
        return measured.get(path.stem, {}).get("full", {}).get("seconds", -1.0)

    return sorted(chapters, key=seconds, reverse=True)  # stable: unmeasured ones keep the reading order


async def execute_all(chapters: list[Path], jobs: int, timeout: int) -> tuple[dict, dict, list[str]]:
    """Execute ``chapters``' paired notebooks, ``jobs`` at a time in the order given, each in a fresh kernel
    started in its folder. Once one fails, no other starts (those running finish). Return the executed
    notebooks and seconds by chapter, and the failures (each names its chapter and nbclient's error: the cell
    and its traceback)."""
    import nbclient
    import nbformat

    slots = asyncio.Semaphore(jobs)  # first come, first served: the chapters start in the order given
    executed, seconds, failed = {}, {}, []

    async def one(chapter: Path) -> None:
        async with slots:
            if failed:
                return
            notebook = nbformat.read(chapter.with_suffix(".ipynb"), as_version=4)
            start = time.perf_counter()
            # record_timing=False: timing in the cells' metadata would change the hash the build finds them by
            client = nbclient.NotebookClient(notebook, timeout=timeout, allow_errors=False, record_timing=False,
                                             resources={"metadata": {"path": str(chapter.parent)}})
            try:
                await client.async_execute()
            except nbclient.exceptions.DeadKernelError as err:
                failed.append(f"{chapter.name}: its kernel died ({err}). Out of memory? Two chapters at a time "
                              "need about 8 GiB free; run `make book JOBS=1` to execute one at a time.")
                return
            except Exception as err:
                failed.append(f"{chapter.name}: {type(err).__name__}: {err}")
                return
            executed[chapter], seconds[chapter] = notebook, time.perf_counter() - start
            print(f"execute_chapters: {chapter.name} executed in {seconds[chapter]:.0f} s", flush=True)

    await asyncio.gather(*(one(chapter) for chapter in chapters))
    return executed, seconds, failed


def main(argv: list[str] | None = None, chapters: list[Path] | None = None) -> int:
    """Execute ``chapters`` (by default the book's) as the command line says; return the exit status."""
    import nbformat
    from book_toc import notebook_chapters
    from jupyter_cache import get_cache

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="chapters executed at a time (default 2)")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "executed",
                        help="folder for the cache and the configuration (its jupyter_cache/ is replaced)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs {args.jobs}: give 1 or more chapters at a time")
    # the kernels start in chapters/: a relative data directory must be made absolute here (as conftest.py does)
    if os.environ.get("SHAP_BOOK_DATA"):
        os.environ["SHAP_BOOK_DATA"] = str(Path(os.environ["SHAP_BOOK_DATA"]).resolve())
    chapters = notebook_chapters() if chapters is None else chapters
    shutil.rmtree(args.out / "jupyter_cache", ignore_errors=True)  # only what this script writes there
    (args.out / "_config.yml").unlink(missing_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    cache = get_cache(args.out / "jupyter_cache")
    # a stale pair is found now, not after the whole book has run
    for chapter in chapters:
        if _hash(cache, nbformat.read(chapter.with_suffix(".ipynb"), as_version=4)) != _hash(cache, _source(chapter)):
            print(f"execute_chapters: {_mismatch(chapter, 'the notebook')}", file=sys.stderr)
            return 1
    start = time.perf_counter()
    try:
        executed, seconds, failed = asyncio.run(
            execute_all(longest_first(chapters), args.jobs, _config()["execute"]["timeout"]))
    except KeyboardInterrupt:
        print("execute_chapters: interrupted; the book is not built", file=sys.stderr)
        return 130
    if failed:
        print("execute_chapters: a chapter failed, so no other was started and the book is not built:\n"
              + "\n".join(failed), file=sys.stderr)
        return 1
    config = cache_executed({c: executed[c] for c in chapters}, args.out, seconds)
    print(f"execute_chapters: {len(chapters)} chapters, {args.jobs} at a time, in "
          f"{time.perf_counter() - start:.0f} s; build with --config {config}", flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
