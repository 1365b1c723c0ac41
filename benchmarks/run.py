"""The book's benchmark: what each chapter and each explainer costs on this machine, in one run per part.

This file is the command line: which parts to run, the record of each run (when, on what, at which calibration
figure) and the results files. The measured work is in ``variants.py`` (each variant in a fresh process), the
Markdown tables in ``report.py``.

Run by hand (it takes over an hour on 2 cores for every part at full size):

    SHAP_BOOK_DATA=../shared/data SHAP_BOOK_ALLOW_STANDIN_WEIGHTS=1 python benchmarks/run.py --write
    ... --parts chapters        # only some parts; the others keep their last measured values
    ... --parts chapters --chapters trust,own_model     # only some chapters (in both profiles)

It prints one Markdown table per part. With ``--write`` it stores the measurements in
``benchmarks/results.json`` (the one source the book's pages draw their run times from: ``_ext/book_costs.py``)
and regenerates ``benchmarks/results.md`` from it (the benchmark page includes it). ``--quick`` shrinks every
size so that the script runs in a few minutes (the tests run it that way to keep it working; its numbers mean
nothing and are never written; chapters then run in the quick profile only). Every variant runs in a fresh
process, so its peak memory is its own, and the variants compared in one table run one after the other in the
same run, so their ratios are comparable. No timing is asserted anywhere.

Parts:
- ``chapters``: every chapter's wall time and peak memory, in both profiles, in reading order, starting
  without saved models (as a fresh clone does: the deep-explanations chapter trains the CIFAR-10 network,
  later chapters reuse it);
- ``book``: the whole book as ``make book`` executes it, two chapters at a time (``_ext/execute_chapters.py``),
  in both profiles, starting without saved models: its wall time, set beside the chapters' sum when both parts
  ran in the same run;
- ``vgg``: GradientExplainer on VGG19's layer 10 at the original notebook's settings (50 backgrounds, 200
  samples, 4 ranked classes): stock shap against ``helpers.explainers.expected_gradients`` (one forward pass
  shared by the classes, and with XLA), their agreement, and the floor set by the arithmetic;
- ``sampling``: shap's random draws against stratified draws (``expected_gradients(..., sampling=...)``) on
  VGG19's layer 10: the error and rank agreement of each, against a large-sample reference;
- ``deep``: DeepExplainer on the CIFAR-10 CNN with 1000 backgrounds, 10 images and 10 classes: stock shap
  against ``helpers.explainers.deep_shap_values`` (chunked background), their agreement, and the floor;
- ``training``: the book's CNN against the CNN of the book's previous edition and the original notebook's
  (bug included), on the same data, and the accuracy of the quick profile's network;
- ``onednn``: VGG19's forward pass and input gradient with TensorFlow's oneDNN custom operations off and on
  (``TF_ENABLE_ONEDNN_OPTS``, read when TensorFlow loads, so each in its own process), and how far apart
  their gradients are.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import report
import variants

ROOT = Path(__file__).resolve().parents[1]
RESULTS_JSON = ROOT / "benchmarks" / "results.json"
RESULTS_MD = ROOT / "benchmarks" / "results.md"

# The parts, in the order they run: each a function of the run's variants.Context that returns the entries it
# stores in results.json (report.py renders each part's table).
PARTS = {"chapters": variants.part_chapters, "book": variants.part_book, "vgg": variants.part_vgg,
         "sampling": variants.part_sampling, "deep": variants.part_deep, "training": variants.part_training,
         "onednn": variants.part_onednn}


def processor() -> str:
    """The processor's model name, as /proc/cpuinfo gives it (``platform.processor()`` elsewhere)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown processor"


def run_record(gflops: float) -> dict:
    """What a run measured on: stored for each part it measures (``runs[part]``) and at the top level."""
    from helpers.pretrained import vgg19_weights_file

    return {"date": time.strftime("%Y-%m-%d"), "python": platform.python_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores", "processor": processor(), "gflops": gflops,
            "vgg_weights": "ImageNet" if vgg19_weights_file() else "random stand-in (same cost)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the script works; never written")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, from {', '.join(PARTS)}")
    parser.add_argument("--write", action="store_true", help="store results.json and regenerate results.md")
    parser.add_argument("--keep", type=Path, help="folder to write the executed chapters to (to read their outputs)")
    parser.add_argument("--chapters", help="comma-separated chapter names: measure only these (the others keep "
                                           "their stored numbers)")
    parser.add_argument("--data-full", default=os.environ.get("SHAP_BOOK_DATA"),
                        help="offline data directory for the full profile's chapters (default: SHAP_BOOK_DATA); "
                             "the published book's is the full CIFAR-10")
    parser.add_argument("--data-quick", default=os.environ.get("SHAP_BOOK_DATA"),
                        help="offline data directory for the quick profile's chapters (default: SHAP_BOOK_DATA)")
    parser.add_argument("--calibrate", action="store_true",
                        help="only measure and print this machine's calibration figure (GFLOP/s), to scale the "
                             "benchmark's times by")
    args = parser.parse_args()
    if args.calibrate:
        import helpers  # noqa: F401  (quiets TensorFlow's start-up log before it loads)

        print(f"calibration: a 4096 x 4096 float32 matrix product runs at {variants.calibration():.0f} GFLOP/s here")
        return

    import tempfile

    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        sys.exit(f"unknown parts {unknown}: choose from {', '.join(PARTS)}")
    if args.chapters and "book" in parts:
        sys.exit("--chapters measures only some chapters, but the book part is set beside the sum of all of them "
                 "measured in the same run: run the book part without --chapters")
    if args.quick and args.write:
        sys.exit("--quick numbers mean nothing: they are never written")
    profile = "quick" if args.quick else "full"
    results = json.loads(RESULTS_JSON.read_text()) if args.write and RESULTS_JSON.is_file() else {}
    # the measurements are stored as plain numbers; the variants' .npy files live only during the run
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # the calibration figure: every run records the float32 throughput it measured, to scale its times by
        hw = variants.run_variant("flops", "-", profile, folder)
        # what this run measured on; the parts it does not run keep the record of the run that measured them
        run = run_record(hw["gflops"])
        results.update(run)
        context = variants.Context(
            profile=profile, folder=folder, hw=hw, data={"full": args.data_full, "quick": args.data_quick},
            keep=args.keep, chapters=[name.strip() for name in args.chapters.split(",")] if args.chapters else None,
            stored=results)
        for part in parts:
            print(f"part {part} ...", flush=True)
            measured = PARTS[part](context)
            results.update(measured)
            if measured:  # (training measures nothing at the quick profile's sizes)
                results.setdefault("runs", {})[part] = run
    text = report.render(results)
    print(text)
    if args.write:
        RESULTS_JSON.write_text(json.dumps(results, indent=1) + "\n")
        RESULTS_MD.write_text(text)


if __name__ == "__main__":
    main()
