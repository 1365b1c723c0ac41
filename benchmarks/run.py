"""The book's benchmark: what each chapter and each explainer costs on this machine, in one run.

Run by hand (it takes about half an hour in the full setting):

    SHAP_BOOK_DATA=../shared/data SHAP_BOOK_ALLOW_STANDIN_WEIGHTS=1 python benchmarks/run.py --write

It prints one Markdown table per part and, with ``--write``, saves them to ``benchmarks/results.md``, which
the book's benchmark page includes. ``--quick`` shrinks every size so that the script runs in about a minute
(the tests run it that way to keep it working; its numbers mean nothing). Every variant runs in a fresh
process, so its peak memory is its own. No timing here is asserted anywhere: the numbers are for reading.

Parts:
1. each chapter's wall time and peak memory in the full profile (``benchmarks/chapters.py``);
2. GradientExplainer on VGG19's layer 10 at the seed's settings (50 backgrounds, 200 samples, 4 ranked
   classes): stock shap against ``helpers.explainers.expected_gradients`` (the same estimator with the
   forward pass shared by the classes, and with XLA), their agreement, and the floor set by the work;
3. DeepExplainer on the CIFAR-10 CNN with 1000 backgrounds, 10 images and 10 classes: stock shap against
   ``helpers.explainers.deep_shap_values`` (chunked background), their agreement, and the floor;
4. CIFAR-10 training: this book's CNN against the seed's (bug included), same data, schedule and machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

SETTINGS = {
    "full": {"vgg_samples": 200, "vgg_background": 50, "vgg_classes": 4, "deep_background": 1000,
             "images": 10, "train_images": None, "epochs": 15, "deep_train_images": 3000},
    "quick": {"vgg_samples": 4, "vgg_background": 4, "vgg_classes": 2, "deep_background": 40,
              "images": 2, "train_images": 600, "epochs": 1, "deep_train_images": 300},
}


# ---- variants, each run in its own process ---------------------------------------------------------------

def _peak_gib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _cifar(settings: dict, n_train: int | None):

    from helpers import data

    (x_train, y_train), (x_test, y_test) = data.load_cifar10()
    x_train = x_train[:n_train].astype("float32") / 255
    return x_train, y_train[:n_train].ravel(), x_test.astype("float32") / 255, y_test.ravel()


def variant_vgg(name: str, settings: dict, out: Path) -> dict:
    """GradientExplainer at VGG19 layer 10 on image 46: stock, shared forward, shared forward + XLA."""
    import numpy as np
    import shap
    from keras.applications.vgg19 import preprocess_input

    from helpers import data, models
    from helpers.explainers import expected_gradients

    photos, _ = data.load_imagenet50()
    features, head = models.split_at_layer(models.load_vgg19().model, 10)
    acts = features.predict(preprocess_input(photos.copy()), verbose=0, batch_size=10)
    background, x = acts[: settings["vgg_background"]], acts[46]
    ranked = np.argsort(-head.predict([x[None]], verbose=0)[0])[: settings["vgg_classes"]]
    start = time.perf_counter()
    if name == "stock":
        values, _ = shap.GradientExplainer(head, background).shap_values(
            x[None], nsamples=settings["vgg_samples"], ranked_outputs=len(ranked), rseed=0)
        values = values[0]
    else:
        values = expected_gradients(head, x, background, ranked, nsamples=settings["vgg_samples"], rseed=0,
                                    jit_compile=name == "shared+xla")
    seconds = time.perf_counter() - start
    np.save(out, values)
    return {"seconds": seconds, "peak_gib": _peak_gib()}


def variant_deep(name: str, settings: dict, out: Path) -> dict:
    """DeepExplainer on the CIFAR-10 CNN: stock shap against the chunked background."""
    import numpy as np
    import shap

    from helpers import data, models
    from helpers.explainers import deep_shap_values

    x_train, y_train, x_test, y_test = _cifar(settings, settings["deep_train_images"])
    model = models.cifar_cnn()
    models.train_classifier(model, x_train, y_train, epochs=2)
    images = x_test[data.one_per_class(y_test)][: settings["images"]]
    rng = np.random.default_rng(0)
    background = x_train[rng.choice(len(x_train), settings["deep_background"], replace=False)]
    start = time.perf_counter()
    if name == "stock":
        values = shap.DeepExplainer(model, background).shap_values(images)
    else:
        values, _ = deep_shap_values(model, background, images)
    seconds = time.perf_counter() - start
    np.save(out, values)
    return {"seconds": seconds, "peak_gib": _peak_gib()}


def variant_train(name: str, settings: dict, out: Path) -> dict:
    """Train this book's CNN or the seed's with the same schedule; report time and test accuracy."""
    from helpers import models

    x_train, y_train, x_test, y_test = _cifar(settings, settings["train_images"])
    model = models.cifar_cnn() if name == "book" else models.original_cifar_cnn()
    start = time.perf_counter()
    models.train_classifier(model, x_train, y_train, epochs=settings["epochs"], batch_size=64)
    seconds = time.perf_counter() - start
    accuracy = float((model.predict(x_test, verbose=0).argmax(1) == y_test).mean())
    return {"seconds": seconds, "peak_gib": _peak_gib(), "accuracy": accuracy, "weights": model.count_params()}


def variant_flops(name: str, settings: dict, out: Path) -> dict:
    """Measured float32 matmul throughput, and the forward FLOPs of the two explained networks."""
    import tensorflow as tf

    from helpers import models

    a = tf.random.normal((4096, 4096))
    tf.matmul(a, a).numpy()
    start, reps = time.perf_counter(), 5
    for _ in range(reps):
        tf.matmul(a, a).numpy()
    throughput = 2 * 4096**3 * reps / (time.perf_counter() - start)
    _, head = models.split_at_layer(models.load_vgg19(allow_standin=True).model, 10)
    return {"gflops": throughput / 1e9, "vgg_head": forward_flops(head), "cifar_cnn": forward_flops(models.cifar_cnn())}


def forward_flops(model) -> float:
    """Multiply-adds x 2 of one forward pass through the Conv2D and Dense layers of ``model`` (one input)."""
    import keras

    total = 0.0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            kh, kw = layer.kernel_size
            total += 2 * h * w * c_out * kh * kw * layer.input.shape[-1]
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * layer.input.shape[-1] * layer.units
    return total


VARIANTS = {"vgg": variant_vgg, "deep": variant_deep, "train": variant_train, "flops": variant_flops}


def run_variant(part: str, name: str, profile: str, folder: Path) -> dict:
    """Run one variant in a fresh Python process and return what it reports."""
    out = folder / f"{part}-{name}.npy"
    done = subprocess.run([sys.executable, __file__, "--variant", part, name, profile, str(out)],
                          capture_output=True, text=True, check=False, env=os.environ)
    if done.returncode != 0:
        sys.exit(f"benchmark variant {part}/{name} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["values"] = out
    return result


# ---- the report ------------------------------------------------------------------------------------------

def agreement(reference: Path, candidate: Path) -> tuple[float, float]:
    """(max |difference| / max |reference|, minimum over classes of Spearman rho of |attribution|)."""
    import numpy as np
    from scipy.stats import spearmanr

    ref, cand = np.load(reference), np.load(candidate)
    rel = float(np.abs(ref - cand).max() / np.abs(ref).max())
    rhos = [spearmanr(np.abs(ref[..., k]).ravel(), np.abs(cand[..., k]).ravel()).statistic
            for k in range(ref.shape[-1])]
    return rel, float(min(rhos))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the script works, in a minute")
    parser.add_argument("--no-chapters", action="store_true", help="skip part 1 (the chapters' run times)")
    parser.add_argument("--write", action="store_true", help="save the tables to benchmarks/results.md")
    parser.add_argument("--variant", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        part, name, profile, out = args.variant
        import keras

        import helpers  # noqa: F401  (quiets TensorFlow's start-up log before it loads)

        # Same weights in every variant's process (VGG19 stand-ins are random); no op determinism, which
        # would forbid the XLA variant.
        keras.utils.set_random_seed(0)
        print(json.dumps(VARIANTS[part](name, SETTINGS[profile], Path(out))))
        return

    import tempfile

    profile = "quick" if args.quick else "full"
    s = SETTINGS[profile]
    lines = [f"Measured on {time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, "
             f"Python {platform.python_version()}, `{profile}` benchmark settings.", ""]

    def emit(*rows: str) -> None:
        for row in rows:
            print(row, flush=True)
            lines.append(row)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if not args.no_chapters:
            from chapters import notebook_chapters, run_chapter

            emit("**Chapters, full profile**", "", "| chapter | wall time (s) | peak memory (GiB) |", "|---|---|---|")
            for path in notebook_chapters():
                r = run_chapter(path, "quick" if args.quick else "full")
                emit(f"| {path.stem} | {r['seconds']:.0f} | {r['peak_gib']:.1f} |")
            emit("")

        hw = run_variant("flops", "-", profile, folder)
        from helpers.models import vgg19_weights_file

        weights = "ImageNet" if vgg19_weights_file() else "random stand-in (same cost)"
        emit(f"Measured float32 matmul throughput: **{hw['gflops']:.0f} GFLOP/s**. VGG19 weights: {weights}.", "")

        n, k, nb = s["vgg_samples"], s["vgg_classes"], s["vgg_background"]
        emit(f"**GradientExplainer, VGG19 layer 10, image 46** ({nb} backgrounds, {n} samples, {k} ranked classes)",
             "", "| variant | time (s) | vs stock | peak memory (GiB) | max rel. difference | min Spearman of abs |",
             "|---|---|---|---|---|---|")
        runs = {name: run_variant("vgg", name, profile, folder) for name in ("stock", "shared", "shared+xla")}
        for name, r in runs.items():
            rel, rho = agreement(runs["stock"]["values"], r["values"])
            emit(f"| {name} | {r['seconds']:.1f} | {runs['stock']['seconds'] / r['seconds']:.2f}x | "
                 f"{r['peak_gib']:.1f} | {rel:.1e} | {rho:.4f} |")
        f = hw["vgg_head"]
        floor = n * (f + k * f) / (hw["gflops"] * 1e9)
        emit("", f"Floor: the head's forward pass is {f / 1e9:.1f} GFLOP per sample and an input gradient about as "
             f"much again, so one forward pass shared by {k} backward passes for {n} samples is "
             f"{n * (1 + k) * f / 1e12:.1f} TFLOP: **{floor:.0f} s** at the measured throughput "
             f"(stock shap does {n * k * 2 * f / 1e12:.1f} TFLOP).", "")

        nbg, ni = s["deep_background"], s["images"]
        emit(f"**DeepExplainer, CIFAR-10 CNN** ({nbg} backgrounds, {ni} images, 10 classes)", "",
             "| variant | time (s) | vs stock | peak memory (GiB) | max rel. difference | min Spearman of abs |",
             "|---|---|---|---|---|---|")
        runs = {name: run_variant("deep", name, profile, folder) for name in ("stock", "chunked")}
        for name, r in runs.items():
            rel, rho = agreement(runs["stock"]["values"], r["values"])
            emit(f"| {name} | {r['seconds']:.1f} | {runs['stock']['seconds'] / r['seconds']:.2f}x | "
                 f"{r['peak_gib']:.1f} | {rel:.1e} | {rho:.4f} |")
        f = hw["cifar_cnn"]
        work = ni * 10 * 2 * nbg * 2 * f
        emit("", f"Floor: {f / 1e6:.0f} MFLOP per forward pass; each image and class pushes {2 * nbg} inputs forward "
             f"and back, {work / 1e12:.2f} TFLOP in all: **{work / (hw['gflops'] * 1e9):.0f} s** at the measured "
             "throughput.", "")

        emit(f"**CIFAR-10 training** ({s['epochs']} epochs, batch 64, "
             f"{'all' if s['train_images'] is None else s['train_images']} training images, 10% held out)", "",
             "| model | weights | time (s) | test accuracy |", "|---|---|---|---|")
        for name, label in (("book", "this book's CNN"), ("seed", "the seed's CNN (bug included)")):
            r = run_variant("train", name, profile, folder)
            emit(f"| {label} | {r['weights']:,} | {r['seconds']:.0f} | {r['accuracy']:.3f} |")

    if args.write:
        (ROOT / "benchmarks" / "results.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
