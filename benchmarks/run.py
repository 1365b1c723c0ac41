"""The book's benchmark: what each chapter and each explainer costs on this machine, in one run per part.

Run by hand (it takes most of an hour on 2 cores for every part at full size):

    SHAP_BOOK_DATA=../shared/data SHAP_BOOK_ALLOW_STANDIN_WEIGHTS=1 python benchmarks/run.py --write
    ... --parts chapters        # only some parts; the others keep their last measured values

It prints one Markdown table per part. With ``--write`` it stores the measurements in
``benchmarks/results.json`` (the one source the book's pages draw their run times from: ``_ext/book_costs.py``)
and regenerates ``benchmarks/results.md`` from it (the benchmark page includes it). ``--quick`` shrinks every
size so that the script runs in a few minutes (the tests run it that way to keep it working; its numbers mean
nothing and are never written). Every variant runs in a fresh process, so its peak memory is its own, and the
variants compared in one table run one after the other in the same run, so their ratios are comparable. No
timing is asserted anywhere.

Parts:
- ``chapters``: every chapter's wall time and peak memory, in both profiles, in reading order, starting
  without saved models (as a fresh clone does: the deep-explanations chapter trains the CIFAR-10 network,
  later chapters reuse it);
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
import shutil
import subprocess
import sys
import time
from pathlib import Path

import report

ROOT = Path(__file__).resolve().parents[1]
RESULTS_JSON = ROOT / "benchmarks" / "results.json"
RESULTS_MD = ROOT / "benchmarks" / "results.md"
PARTS = ("chapters", "vgg", "sampling", "deep", "training", "onednn")

SETTINGS = {
    "full": {"vgg_samples": 200, "vgg_background": 50, "vgg_classes": 4, "deep_background": 1000,
             "images": 10, "deep_train_images": 3000, "sampling_reference": 1000,
             "sampling_grid": {"shap": [50, 200], "stratified": [50, 100, 200]}, "sampling_seeds": 2,
             "training": True, "onednn_images": 20},
    "quick": {"vgg_samples": 4, "vgg_background": 4, "vgg_classes": 2, "deep_background": 40,
              "images": 2, "deep_train_images": 300, "sampling_reference": 8,
              "sampling_grid": {"shap": [2, 4], "stratified": [2, 4]},
              "sampling_seeds": 1, "training": False, "onednn_images": 2},
}


# ---- variants, each run in its own process ---------------------------------------------------------------

def _peak_gib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _vgg_layer10(settings: dict):
    """VGG19's head from layer 10, the 50 imagenet50 photos at layer 10, and image 46's top classes."""
    import numpy as np
    from keras.applications.vgg19 import preprocess_input

    from helpers import data, models

    photos, _ = data.load_imagenet50()
    features, head = models.split_at_layer(models.load_vgg19().model, 10)
    chosen = photos[list(range(settings["vgg_background"])) + [46]]  # the background photos, then image 46
    acts = features.predict(preprocess_input(chosen.copy()), verbose=0, batch_size=10)
    ranked = np.argsort(-head.predict([acts[-1:]], verbose=0)[0])[: settings["vgg_classes"]]
    return head, acts[:-1], acts[-1], ranked


def variant_vgg(name: str, settings: dict, out: Path) -> dict:
    """GradientExplainer at VGG19 layer 10 on image 46: stock, shared forward, shared forward + XLA."""
    import numpy as np
    import shap

    from helpers.explainers import expected_gradients

    head, background, x, ranked = _vgg_layer10(settings)
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


def variant_sampling(name: str, settings: dict, out: Path) -> dict:
    """Expected gradients for image 46's top class at VGG19 layer 10 (50 backgrounds): a reference from many
    stratified draws, then shap's and stratified sampling at each size of the grid and several seeds, all in
    this one process (one after the other, so their times compare). Each map is the 56 x 56 map the chapters
    draw (summed over channels); returns one row per (sampling, size), averaged over the seeds."""
    import numpy as np
    from scipy.stats import spearmanr

    from helpers.explainers import expected_gradients

    head, background, x, ranked = _vgg_layer10({**settings, "vgg_background": 50})

    def explain(sampling: str, n: int, seed: int) -> tuple[np.ndarray, float]:
        start = time.perf_counter()
        values = expected_gradients(head, x, background, ranked[:1], nsamples=n, rseed=seed, sampling=sampling,
                                    batch_size=25)
        return values[..., 0].sum(axis=-1), time.perf_counter() - start

    reference, _ = explain("stratified", settings["sampling_reference"], 1000)
    top = reference.ravel() >= np.quantile(reference, 0.95)
    rows = []
    for sampling, grid in settings["sampling_grid"].items():
        for n in grid:
            errors, rhos, overlaps, seconds = [], [], [], []
            for seed in range(settings["sampling_seeds"]):
                values, took = explain(sampling, n, seed)
                errors.append(float(np.linalg.norm(values - reference) / np.linalg.norm(reference)))
                rhos.append(float(spearmanr(values.ravel(), reference.ravel()).statistic))
                overlaps.append(float((top & (values.ravel() >= np.quantile(values, 0.95))).sum() / top.sum()))
                seconds.append(took)
            rows.append({"sampling": sampling, "nsamples": n, "rel_error": float(np.mean(errors)),
                         "spearman": float(np.mean(rhos)), "top5_overlap": float(np.mean(overlaps)),
                         "seconds": float(np.mean(seconds))})
    return {"rows": rows, "reference_samples": settings["sampling_reference"], "seeds": settings["sampling_seeds"]}


def variant_deep(name: str, settings: dict, out: Path) -> dict:
    """DeepExplainer on the CIFAR-10 CNN: stock shap against the chunked background."""
    import numpy as np
    import shap

    from helpers import cifar, data, models
    from helpers.explainers import deep_shap_values

    loaded = cifar.load(settings["deep_train_images"])
    model = models.cifar_cnn()
    models.train_classifier(model, loaded.x_train, loaded.y_train, epochs=2)
    images = loaded.x_test[data.one_per_class(loaded.y_test)][: settings["images"]]
    background = cifar.draw_background(loaded.x_train, settings["deep_background"], seed=0)
    start = time.perf_counter()
    if name == "stock":
        values = shap.DeepExplainer(model, background).shap_values(images)
    else:
        values, _ = deep_shap_values(model, background, images)
    seconds = time.perf_counter() - start
    np.save(out, values)
    return {"seconds": seconds, "peak_gib": _peak_gib()}


def previous_cifar_cnn(seed: int = 0):
    """The CNN of the book's previous edition (for comparison only): three valid-padded convolution + pooling
    blocks of 32, 64 and 64 filters, dropout 0.3 and a dense layer of 128; trained 15 epochs, batch 64."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((32, 32, 3)),
        layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Flatten(), layers.Dropout(0.3), layers.Dense(128, activation="relu"), layers.Dense(10, "softmax"),
    ], name="previous_cnn")


def variant_train(name: str, settings: dict, out: Path) -> dict:
    """Train one CIFAR-10 network on the book's data; report its training time and test accuracy.

    ``book-full`` and ``book-quick``: the book's CNN with each profile's recipe (helpers.cifar.book_recipe);
    ``previous`` and ``original``: the previous edition's CNN and the original notebook's, with the previous
    edition's schedule (15 epochs, batch 64, plain Adam)."""
    from helpers import cifar, models
    from helpers.config import seed_everything

    os.environ["SHAP_BOOK_PROFILE"] = "quick" if name == "book-quick" else "full"
    recipe = cifar.book_recipe()
    loaded = cifar.load(recipe.train_images)
    if name.startswith("book"):
        model = models.cifar_cnn(seed=recipe.seed)
        start = time.perf_counter()
        models.train_classifier(model, loaded.x_train, loaded.y_train, epochs=recipe.epochs,
                                batch_size=recipe.batch_size, seed=recipe.seed)
    else:
        model = previous_cifar_cnn() if name == "previous" else models.original_cifar_cnn()
        start = time.perf_counter()
        seed_everything(0)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(loaded.x_train, loaded.y_train, epochs=15, batch_size=64, validation_split=0.1, verbose=0)
    seconds = time.perf_counter() - start
    accuracy = float((model.predict(loaded.x_test, verbose=0).argmax(1) == loaded.y_test).mean())
    return {"seconds": seconds, "peak_gib": _peak_gib(), "accuracy": accuracy, "weights": model.count_params()}


def variant_flops(name: str, settings: dict, out: Path) -> dict:
    """Measured float32 matmul throughput, and the forward FLOPs of the two explained networks."""
    from helpers import models

    _, head = models.split_at_layer(models.load_vgg19(allow_standin=True).model, 10)
    return {"gflops": calibration(), "vgg_head": forward_flops(head), "cifar_cnn": forward_flops(models.cifar_cnn())}


def calibration() -> float:
    """The calibration figure: GFLOP/s of a 4096 x 4096 float32 matrix product in TensorFlow (after a warm-up)."""
    import tensorflow as tf

    a = tf.random.normal((4096, 4096))
    tf.matmul(a, a).numpy()
    start, reps = time.perf_counter(), 5
    for _ in range(reps):
        tf.matmul(a, a).numpy()
    return 2 * 4096**3 * reps / (time.perf_counter() - start) / 1e9


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


def variant_onednn(name: str, settings: dict, out: Path) -> dict:
    """VGG19's logits on imagenet50 photos, in a process whose oneDNN setting ``name`` ("off"/"on") was set by
    :func:`part_onednn`: seconds per photo of a forward pass (three rounds) and of the gradient of one logit
    (batches of 10, after a warm-up batch that builds the graphs)."""
    import numpy as np
    from keras.applications.vgg19 import preprocess_input

    from helpers import data, gradient_methods, models

    photos, _ = data.load_imagenet50()
    x = preprocess_input(photos[: settings["onednn_images"]].astype("float32"))
    model = gradient_methods.logit_model(models.load_vgg19().model)
    model.predict(x[:10], verbose=0, batch_size=10)
    gradient_methods.path_gradients(model, x[:10], 0, batch_size=10)
    start = time.perf_counter()
    for _ in range(3):  # the forward pass is short: three rounds steady its timing
        model.predict(x, verbose=0, batch_size=10)
    forward = (time.perf_counter() - start) / (3 * len(x))
    start = time.perf_counter()
    gradients = gradient_methods.path_gradients(model, x, 0, batch_size=10)
    gradient = (time.perf_counter() - start) / len(x)
    np.save(out, np.moveaxis(gradients, 0, -1))  # one "class" per photo, as agreement() compares them
    return {"forward_s": forward, "gradient_s": gradient, "peak_gib": _peak_gib()}


VARIANTS = {"vgg": variant_vgg, "sampling": variant_sampling, "deep": variant_deep, "train": variant_train,
            "flops": variant_flops, "onednn": variant_onednn}


def run_variant(part: str, name: str, profile: str, folder: Path, env: dict | None = None) -> dict:
    """Run one variant in a fresh Python process (with ``env`` added to its environment); return its report."""
    out = folder / f"{part}-{name}.npy"
    done = subprocess.run([sys.executable, __file__, "--variant", part, name, profile, str(out)],
                          capture_output=True, text=True, check=False, env={**os.environ, **(env or {})})
    if done.returncode != 0:
        sys.exit(f"benchmark variant {part}/{name} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["values"] = out
    return result


# ---- the parts -------------------------------------------------------------------------------------------

def agreement(reference: Path, candidate: Path) -> tuple[float, float]:
    """(max |difference| / max |reference|, minimum over classes of Spearman rho of |attribution|)."""
    import numpy as np
    from scipy.stats import spearmanr

    ref, cand = np.load(reference), np.load(candidate)
    rel = float(np.abs(ref - cand).max() / np.abs(ref).max())
    rhos = [spearmanr(np.abs(ref[..., k]).ravel(), np.abs(cand[..., k]).ravel()).statistic
            for k in range(ref.shape[-1])]
    return rel, float(min(rhos))


def part_chapters(profile: str, folder: Path, data: dict[str, str], keep: Path | None = None,
                  only: list[str] | None = None) -> dict:
    """Every chapter in each profile, the full profile on ``data["full"]`` and the quick one on
    ``data["quick"]`` (the data directories the published book and the classes use)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from chapters import run_chapter
    from helpers.book import notebook_chapters

    results = {}
    profiles = ("quick",) if profile == "quick" else ("full", "quick")
    for chapter_profile in profiles:
        shutil.rmtree(ROOT / "chapters" / "artifacts", ignore_errors=True)  # as in a fresh clone
        for path in notebook_chapters():
            if only and path.stem not in only:
                continue
            executed = keep / f"{path.stem}-{chapter_profile}.ipynb" if keep else None
            results.setdefault(path.stem, {})[chapter_profile] = run_chapter(
                path, chapter_profile, executed, data_dir=data[chapter_profile])
            print(f"  {path.stem} ({chapter_profile}): {results[path.stem][chapter_profile]}", flush=True)
    return results


def compare_variants(part: str, names: tuple[str, ...], profile: str, folder: Path) -> list[dict]:
    """Run each variant of ``part`` in turn and compare its values with the first one's (stock shap)."""
    runs = {name: run_variant(part, name, profile, folder) for name in names}
    rows = []
    for name, r in runs.items():
        rel, rho = agreement(runs[names[0]]["values"], r["values"])
        rows.append({"variant": name, "seconds": r["seconds"], "peak_gib": r["peak_gib"], "max_rel_diff": rel,
                     "min_spearman_abs": rho})
    return rows


def part_vgg(profile: str, folder: Path, hw: dict) -> dict:
    s = SETTINGS[profile]
    return {"rows": compare_variants("vgg", ("stock", "shared", "shared+xla"), profile, folder),
            "flops_per_sample": hw["vgg_head"], "gflops": hw["gflops"], "samples": s["vgg_samples"],
            "classes": s["vgg_classes"], "background": s["vgg_background"]}


def part_sampling(profile: str, folder: Path) -> dict:
    result = run_variant("sampling", "-", profile, folder)
    result.pop("values")
    return result


def part_deep(profile: str, folder: Path, hw: dict) -> dict:
    s = SETTINGS[profile]
    return {"rows": compare_variants("deep", ("stock", "chunked"), profile, folder),
            "flops_per_forward": hw["cifar_cnn"], "gflops": hw["gflops"], "background": s["deep_background"],
            "images": s["images"]}


def part_training(profile: str, folder: Path, data: dict[str, str]) -> dict:
    """The book's CNN with the full recipe on the full profile's data (the published network) and on the quick
    profile's data, beside the previous edition's and the original notebook's CNNs and the quick recipe, all on
    the quick profile's data (the subset classes use)."""
    results = {}
    runs = {"full": ("book-full", "full"), "full-on-quick-data": ("book-full", "quick"),
            "previous": ("previous", "quick"), "original": ("original", "quick"), "quick": ("book-quick", "quick")}
    for key, (name, data_profile) in runs.items():
        env = {"SHAP_BOOK_DATA": str(Path(data[data_profile]).resolve())} if data[data_profile] else None
        run = run_variant("train", name, profile, folder, env)
        results[key] = {k: v for k, v in run.items() if k != "values"}
        results[key]["data"] = describe_data(data[data_profile])
    return results


def part_onednn(profile: str, folder: Path) -> dict:
    runs = {name: run_variant("onednn", name, profile, folder, {"TF_ENABLE_ONEDNN_OPTS": flag})
            for name, flag in (("off", "0"), ("on", "1"))}
    rel, rho = agreement(runs["off"]["values"], runs["on"]["values"])
    return {"images": SETTINGS[profile]["onednn_images"], "max_rel_diff": rel, "min_spearman_abs": rho,
            "rows": [{"onednn": name, **{k: v for k, v in r.items() if k != "values"}} for name, r in runs.items()]}


def processor() -> str:
    """The processor's model name, as /proc/cpuinfo gives it (``platform.processor()`` elsewhere)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown processor"


def describe_data(folder: str | None) -> str:
    """Which CIFAR-10 a data directory holds, as the pages name it: the file and its training/test sizes."""
    import numpy as np

    from helpers.data import CIFAR10_FILE, CIFAR10_FULL_FILE

    if not folder:
        return "CIFAR-10 as Keras downloads it (50 000 training / 10 000 test images)"
    for name in (CIFAR10_FULL_FILE, CIFAR10_FILE):
        path = Path(folder) / name
        if path.is_file():
            with np.load(path) as npz:
                train, test = (f"{len(npz[key]):,}".replace(",", " ") for key in ("y_train", "y_test"))
            kind = "the full CIFAR-10" if name == CIFAR10_FULL_FILE else "the class-balanced subset of CIFAR-10"
            return f"{kind}, {train} training / {test} test images ({name})"
    return f"no CIFAR-10 file in {folder}"


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
    parser.add_argument("--variant", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.calibrate:
        import helpers  # noqa: F401  (quiets TensorFlow's start-up log before it loads)

        print(f"calibration: a 4096 x 4096 float32 matrix product runs at {calibration():.0f} GFLOP/s here")
        return
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

    from helpers.book import notebook_chapters
    from helpers.models import vgg19_weights_file

    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        sys.exit(f"unknown parts {unknown}: choose from {', '.join(PARTS)}")
    if args.quick and args.write:
        sys.exit("--quick numbers mean nothing: they are never written")
    profile = "quick" if args.quick else "full"
    results = json.loads(RESULTS_JSON.read_text()) if args.write and RESULTS_JSON.is_file() else {}
    # the measurements are stored as plain numbers; the variants' .npy files live only during the run
    data = {"full": args.data_full, "quick": args.data_quick}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # the calibration figure: every run records the float32 throughput it measured, to scale its times by
        hw = run_variant("flops", "-", profile, folder)
        # what this run measured on; the parts it does not run keep the record of the run that measured them
        run = {"date": time.strftime("%Y-%m-%d"), "python": platform.python_version(),
               "machine": f"{platform.machine()}, {os.cpu_count()} cores", "processor": processor(),
               "gflops": hw["gflops"],
               "vgg_weights": "ImageNet" if vgg19_weights_file() else "random stand-in (same cost)"}
        results.update(run)
        results.setdefault("runs", {}).update({part: run for part in parts})
        for part in parts:
            print(f"part {part} ...", flush=True)
            if part == "chapters":
                if args.keep:
                    args.keep.mkdir(parents=True, exist_ok=True)
                only = [name.strip() for name in args.chapters.split(",")] if args.chapters else None
                measured = part_chapters(profile, folder, data, args.keep, only)
                merged = {**results.get("chapters", {}), **measured} if only else measured
                # stored in reading order (a chapter no longer in the book last), the order the report lists them in
                order = [path.stem for path in notebook_chapters()]
                results["chapters"] = dict(sorted(merged.items(), key=lambda item: order.index(item[0])
                                                  if item[0] in order else len(order)))
                results["chapter_data"] = {p: describe_data(d) for p, d in data.items()}
            elif part == "vgg":
                results["vgg"] = part_vgg(profile, folder, hw)
            elif part == "sampling":
                results["sampling"] = part_sampling(profile, folder)
            elif part == "deep":
                results["deep"] = part_deep(profile, folder, hw)
            elif part == "training" and SETTINGS[profile]["training"]:
                results["training"] = part_training(profile, folder, data)
            elif part == "onednn":
                results["onednn"] = part_onednn(profile, folder)
    text = report.render(results)
    print(text)
    if args.write:
        RESULTS_JSON.write_text(json.dumps(results, indent=1) + "\n")
        RESULTS_MD.write_text(text)


if __name__ == "__main__":
    main()
