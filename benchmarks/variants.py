"""The benchmark's measured work: every variant, each run in a fresh Python process, and the parts that run them.

A variant is one measurement (stock shap on VGG19, the chunked DeepExplainer, one chapter in one profile, ...):
a function ``variant_PART(name, settings, out)`` that does the work, leaves the values it computed at ``out``
(to compare variants with each other) and returns its numbers. Each runs in its own process, started by
:func:`run_variant` as

    python benchmarks/variants.py PART NAME PROFILE OUT

so that its peak memory is its own and a setting TensorFlow reads when it loads (``TF_ENABLE_ONEDNN_OPTS``)
can differ between variants; the process prints the variant's numbers as one line of JSON. A part
(``part_PART(context)``, listed in ``run.py``'s registry) runs its variants one after the other (so that
their times compare), compares their values, and returns the entries it stores in ``results.json``, rows
keyed by name. Chapters are variants too: :func:`variant_chapter` executes one chapter's .md source top to
bottom in a fresh kernel, as `make book` does (time single chapters with ``run.py --parts chapters --chapters
NAME``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))  # book_toc: the chapters in reading order

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

def _peak_gib(children: bool = False) -> float:
    """The largest resident set of this process (or of its children: a chapter's kernel), in GiB."""
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF).ru_maxrss / 2**20


def _vgg_layer10(settings: dict):
    """VGG19's head from layer 10, the 50 imagenet50 photos at layer 10, and image 46's top classes."""
    import numpy as np
    from keras.applications.vgg19 import preprocess_input

    from helpers import data, pretrained, surgery

    photos, _ = data.load_imagenet50()
    features, head = surgery.split_at_layer(pretrained.load_vgg19().model, 10)
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
    draw (summed over channels); returns one row per (sampling, size), averaged over the seeds, keyed by
    ``SAMPLING-SIZE`` (``"stratified-200"``)."""
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
    rows = {}
    for sampling, grid in settings["sampling_grid"].items():
        for n in grid:
            errors, rhos, overlaps, seconds = [], [], [], []
            for seed in range(settings["sampling_seeds"]):
                values, took = explain(sampling, n, seed)
                errors.append(float(np.linalg.norm(values - reference) / np.linalg.norm(reference)))
                rhos.append(float(spearmanr(values.ravel(), reference.ravel()).statistic))
                overlaps.append(float((top & (values.ravel() >= np.quantile(values, 0.95))).sum() / top.sum()))
                seconds.append(took)
            rows[f"{sampling}-{n}"] = {"sampling": sampling, "nsamples": n, "rel_error": float(np.mean(errors)),
                                       "spearman": float(np.mean(rhos)), "top5_overlap": float(np.mean(overlaps)),
                                       "seconds": float(np.mean(seconds))}
    return {"rows": rows, "reference_samples": settings["sampling_reference"], "seeds": settings["sampling_seeds"]}


def variant_deep(name: str, settings: dict, out: Path) -> dict:
    """DeepExplainer on the CIFAR-10 CNN: stock shap against the chunked background."""
    import numpy as np
    import shap

    from helpers import cifar, data
    from helpers.explainers import deep_shap_values

    loaded = cifar.load(settings["deep_train_images"])
    model = cifar.cifar_cnn()
    cifar.train_classifier(model, loaded.x_train, loaded.y_train, epochs=2)
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
    from helpers import cifar
    from helpers.config import seed_everything

    os.environ["SHAP_BOOK_PROFILE"] = "quick" if name == "book-quick" else "full"
    recipe = cifar.book_recipe()
    loaded = cifar.load(recipe.train_images)
    if name.startswith("book"):
        model = cifar.cifar_cnn(seed=recipe.seed)
        start = time.perf_counter()
        cifar.train_classifier(model, loaded.x_train, loaded.y_train, epochs=recipe.epochs,
                                batch_size=recipe.batch_size, seed=recipe.seed)
    else:
        model = previous_cifar_cnn() if name == "previous" else cifar.original_cifar_cnn()
        start = time.perf_counter()
        seed_everything(0)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(loaded.x_train, loaded.y_train, epochs=15, batch_size=64, validation_split=0.1, verbose=0)
    seconds = time.perf_counter() - start
    accuracy = float((model.predict(loaded.x_test, verbose=0).argmax(1) == loaded.y_test).mean())
    return {"seconds": seconds, "peak_gib": _peak_gib(), "accuracy": accuracy, "weights": model.count_params()}


def variant_flops(name: str, settings: dict, out: Path) -> dict:
    """Measured float32 matmul throughput, and the forward FLOPs of the two explained networks."""
    from helpers import cifar, pretrained, surgery

    _, head = surgery.split_at_layer(pretrained.load_vgg19(allow_standin=True).model, 10)
    return {"gflops": calibration(), "vgg_head": forward_flops(head), "cifar_cnn": forward_flops(cifar.cifar_cnn())}


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

    from helpers import data, gradient_methods, pretrained, surgery

    photos, _ = data.load_imagenet50()
    x = preprocess_input(photos[: settings["onednn_images"]].astype("float32"))
    model = surgery.logit_model(pretrained.load_vgg19().model)
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


def variant_chapter(name: str, settings: dict, out: Path) -> dict:
    """Execute ``chapters/NAME.md`` top to bottom in a fresh kernel, in the profile and on the data this process's
    environment names (``SHAP_BOOK_PROFILE``, ``SHAP_BOOK_DATA``, set by :func:`part_chapters`); write the
    executed notebook to ``out``. Its peak memory is the largest resident set of the kernel process. This
    process loads no TensorFlow: the kernel does."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    path = ROOT / "chapters" / f"{name}.md"
    notebook = jupytext.read(path)
    start = time.perf_counter()
    NotebookClient(notebook, timeout=7200, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    nbformat.write(notebook, out)
    return {"seconds": seconds, "peak_gib": _peak_gib(children=True), "slowest": slowest_cells(notebook)}


def slowest_cells(notebook, count: int = 3) -> dict[str, float]:
    """The ``count`` slowest code cells of an executed notebook, slowest first, keyed by their first line of code
    (comments skipped): the seconds nbclient recorded, from the cell's input reaching the kernel to its reply."""
    from datetime import datetime

    rows = []
    for cell in notebook.cells:
        timing = cell.get("metadata", {}).get("execution", {})
        if cell.cell_type != "code" or not {"iopub.execute_input", "shell.execute_reply"} <= set(timing):
            continue
        seconds = (datetime.fromisoformat(timing["shell.execute_reply"])
                   - datetime.fromisoformat(timing["iopub.execute_input"])).total_seconds()
        code = next((line.strip() for line in cell.source.splitlines()
                     if line.strip() and not line.lstrip().startswith("#")), "")
        rows.append((seconds, code if len(code) <= 60 else code[:57] + "..."))
    slowest: dict[str, float] = {}
    for seconds, code in sorted(rows, key=lambda row: -row[0])[:count]:
        key, copy = code, 1
        while key in slowest:  # two cells that start alike
            copy += 1
            key = f"{code} ({copy})"
        slowest[key] = seconds
    return slowest


VARIANTS = {"vgg": variant_vgg, "sampling": variant_sampling, "deep": variant_deep, "train": variant_train,
            "flops": variant_flops, "onednn": variant_onednn, "chapter": variant_chapter}


def run_variant(part: str, name: str, profile: str, folder: Path, env: dict | None = None,
                out: Path | None = None) -> dict:
    """Run one variant in a fresh Python process (with ``env`` added to its environment); return its numbers,
    with ``values``: the file it left its values in (``out``, by default ``folder/PART-NAME.npy``)."""
    out = out or folder / f"{part}-{name}.npy"
    done = subprocess.run([sys.executable, __file__, part, name, profile, str(out)],
                          capture_output=True, text=True, check=False, env={**os.environ, **(env or {})})
    if done.returncode != 0:
        sys.exit(f"benchmark variant {part}/{name} ({profile} profile) failed:\n{done.stderr[-3000:]}")
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


@dataclass
class Context:
    """What a part needs from the run that measures it."""

    profile: str  # "full" or "quick": the sizes in SETTINGS
    folder: Path  # where the variants leave their values, for the duration of the run
    hw: dict  # the flops variant's numbers: the calibration figure and the explained networks' forward FLOPs
    data: dict[str, str | None]  # the offline data directory of each chapter profile ("full", "quick")
    keep: Path | None = None  # where to copy the executed chapters to
    chapters: list[str] | None = None  # only these chapters (the others keep their stored numbers)
    stored: dict = field(default_factory=dict)  # the results so far (results.json's, with --write)


def fresh_profiles(context: Context):
    """Yield each chapter profile the run measures (a ``--quick`` run: quick only) with the environment that
    selects it and its data directory, after removing the saved models, as in a fresh clone."""
    for chapter_profile in ("quick",) if context.profile == "quick" else ("full", "quick"):
        shutil.rmtree(ROOT / "chapters" / "artifacts", ignore_errors=True)
        data = context.data[chapter_profile]
        yield chapter_profile, {"SHAP_BOOK_PROFILE": chapter_profile,
                                **({"SHAP_BOOK_DATA": str(Path(data).resolve())} if data else {})}


def part_chapters(context: Context) -> dict:
    """Every chapter in each profile, the full profile on ``data["full"]`` and the quick one on ``data["quick"]``
    (the data directories the published book and the classes use), in reading order, starting without saved
    models. With ``chapters``, only those are measured and the others keep their stored numbers."""
    from book_toc import notebook_chapters

    order = [path.stem for path in notebook_chapters()]
    only = context.chapters
    if set(only or ()) - set(order):
        sys.exit(f"unknown chapters {sorted(set(only) - set(order))}: choose from {', '.join(order)}")
    measured = {}
    for chapter_profile, env in fresh_profiles(context):
        for name in order:
            if only and name not in only:
                continue
            out = context.folder / f"{name}-{chapter_profile}.ipynb"
            run = run_variant("chapter", name, chapter_profile, context.folder, env, out)
            if context.keep:
                context.keep.mkdir(parents=True, exist_ok=True)
                shutil.copy(out, context.keep / out.name)
            measured.setdefault(name, {})[chapter_profile] = {"seconds": run["seconds"], "peak_gib": run["peak_gib"],
                                                              "slowest": run["slowest"]}
            print(f"  {name} ({chapter_profile}): {run['seconds']:.1f} s, {run['peak_gib']:.2f} GiB; slowest cells "
                  f"{[(round(s, 1), code) for code, s in run['slowest'].items()]}", flush=True)
    merged = {**context.stored.get("chapters", {}), **measured} if only else measured
    # stored in reading order (a chapter no longer in the book last), the order the report lists them in
    chapters = dict(sorted(merged.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order)))
    return {"chapters": chapters, "chapter_data": {p: describe_data(d) for p, d in context.data.items()}}


def part_book(context: Context) -> dict:
    """The whole book as ``make book`` executes it: every chapter, two at a time (``_ext/execute_chapters.py``,
    longest first), in each profile on its data, starting without saved models; the wall time of the whole.
    Run with the chapters part (one chapter at a time), the report gives the ratio of the two."""
    jobs = 2
    measured = {}
    for chapter_profile, env in fresh_profiles(context):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, str(ROOT / "_ext" / "execute_chapters.py"), "--jobs", str(jobs),
                               "--out", str(context.folder / f"book-{chapter_profile}")],
                              capture_output=True, text=True, env={**os.environ, **env}, check=False)
        if done.returncode != 0:
            sys.exit(f"the book ({chapter_profile} profile, {jobs} chapters at a time) failed:\n{done.stderr[-3000:]}")
        seconds = time.perf_counter() - start
        measured[chapter_profile] = {"jobs": jobs, "seconds": seconds}
        print(f"  the book ({chapter_profile}), {jobs} chapters at a time: {seconds:.0f} s", flush=True)
    return {"book": measured}


def compare_variants(part: str, names: tuple[str, ...], profile: str, folder: Path) -> dict[str, dict]:
    """Run each variant of ``part`` in turn and compare its values with the first one's (stock shap); one row
    per variant, keyed by its name."""
    runs = {name: run_variant(part, name, profile, folder) for name in names}
    rows = {}
    for name, r in runs.items():
        rel, rho = agreement(runs[names[0]]["values"], r["values"])
        rows[name] = {"seconds": r["seconds"], "peak_gib": r["peak_gib"], "max_rel_diff": rel, "min_spearman_abs": rho}
    return rows


def part_vgg(context: Context) -> dict:
    s, hw = SETTINGS[context.profile], context.hw
    return {"vgg": {"rows": compare_variants("vgg", ("stock", "shared", "shared+xla"), context.profile, context.folder),
                    "flops_per_sample": hw["vgg_head"], "gflops": hw["gflops"], "samples": s["vgg_samples"],
                    "classes": s["vgg_classes"], "background": s["vgg_background"]}}


def part_sampling(context: Context) -> dict:
    result = run_variant("sampling", "-", context.profile, context.folder)
    result.pop("values")
    return {"sampling": result}


def part_deep(context: Context) -> dict:
    s, hw = SETTINGS[context.profile], context.hw
    return {"deep": {"rows": compare_variants("deep", ("stock", "chunked"), context.profile, context.folder),
                     "flops_per_forward": hw["cifar_cnn"], "gflops": hw["gflops"], "background": s["deep_background"],
                     "images": s["images"]}}


def part_training(context: Context) -> dict:
    """The book's CNN with the full recipe on the full profile's data (the published network) and on the quick
    profile's data, beside the previous edition's and the original notebook's CNNs and the quick recipe, all on
    the quick profile's data (the subset classes use). Not at the quick profile's sizes: nothing measured."""
    if not SETTINGS[context.profile]["training"]:
        return {}
    data = context.data
    results = {}
    runs = {"full": ("book-full", "full"), "full-on-quick-data": ("book-full", "quick"),
            "previous": ("previous", "quick"), "original": ("original", "quick"), "quick": ("book-quick", "quick")}
    for key, (name, data_profile) in runs.items():
        env = {"SHAP_BOOK_DATA": str(Path(data[data_profile]).resolve())} if data[data_profile] else None
        run = run_variant("train", name, context.profile, context.folder, env)
        results[key] = {k: v for k, v in run.items() if k != "values"}
        results[key]["data"] = describe_data(data[data_profile])
    return {"training": results}


def part_onednn(context: Context) -> dict:
    runs = {name: run_variant("onednn", name, context.profile, context.folder, {"TF_ENABLE_ONEDNN_OPTS": flag})
            for name, flag in (("off", "0"), ("on", "1"))}
    rel, rho = agreement(runs["off"]["values"], runs["on"]["values"])
    return {"onednn": {"images": SETTINGS[context.profile]["onednn_images"], "max_rel_diff": rel,
                       "min_spearman_abs": rho,
                       "rows": {name: {k: v for k, v in r.items() if k != "values"} for name, r in runs.items()}}}


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



def main(argv: list[str]) -> None:
    """The worker: run variant NAME of PART at PROFILE's sizes, leave its values at OUT, print its numbers."""
    part, name, profile, out = argv
    if part != "chapter":
        import keras

        import helpers  # noqa: F401  (quiets TensorFlow's start-up log before it loads)

        # Same weights in every variant's process (VGG19 stand-ins are random); no op determinism, which
        # would forbid the XLA variant.
        keras.utils.set_random_seed(0)
    print(json.dumps(VARIANTS[part](name, SETTINGS[profile], Path(out))))


if __name__ == "__main__":
    main(sys.argv[1:])
