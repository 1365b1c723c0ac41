"""Time each chapter end to end, in a given profile, and report its wall time and peak memory.

Run by hand (not a test): ``python benchmarks/chapters.py --profile full [CHAPTER ...]``. Each chapter's .md
source is executed top to bottom in a fresh kernel, as `make book` does; the peak memory is the largest
resident set of the kernel process. Offline, set SHAP_BOOK_DATA; without VGG19's real weights a full-profile
run needs SHAP_BOOK_ALLOW_STANDIN_WEIGHTS=1 (random weights cost the same time).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from helpers.book import notebook_chapters

ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, resource, sys, time
import jupytext
from nbclient import NotebookClient
notebook = jupytext.read(sys.argv[1])
start = time.perf_counter()
NotebookClient(notebook, timeout=7200, kernel_name="python3",
               resources={"metadata": {"path": sys.argv[2]}}).execute()
seconds = time.perf_counter() - start
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
if sys.argv[3]:
    import nbformat
    nbformat.write(notebook, sys.argv[3])
print(json.dumps({"seconds": seconds, "peak_gib": peak_kib / 2**20}))
"""


def run_chapter(path: Path, profile: str, keep: Path | None = None, data_dir: str | None = None) -> dict[str, float]:
    """Execute one chapter in a fresh process and kernel; return its wall time (s) and peak memory (GiB).

    With ``keep``, the executed notebook is written there too, to read its outputs; with ``data_dir``, the
    chapter reads that offline data directory (``SHAP_BOOK_DATA``) instead of the environment's.
    """
    env = {**os.environ, "SHAP_BOOK_PROFILE": profile}
    if data_dir:
        env["SHAP_BOOK_DATA"] = str(Path(data_dir).resolve())
    done = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(path.parent), str(keep or "")], env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{path.name} failed in the {profile} profile:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=["full", "quick"], default="full")
    parser.add_argument("--keep", type=Path, help="folder to write the executed notebooks to")
    parser.add_argument("chapters", nargs="*", help="chapter names (default: every chapters/*.md)")
    args = parser.parse_args()
    names = args.chapters or [p.stem for p in notebook_chapters()]
    print("| chapter | profile | wall time (s) | peak memory (GiB) |\n|---|---|---|---|")
    for name in names:
        keep = args.keep / f"{name}-{args.profile}.ipynb" if args.keep else None
        result = run_chapter(ROOT / "chapters" / f"{name}.md", args.profile, keep)
        print(f"| {name} | {args.profile} | {result['seconds']:.0f} | {result['peak_gib']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
