"""The benchmark's report: a results dict (as ``benchmarks/results.json`` stores it) rendered as Markdown.

Pure rendering, and only that: no TensorFlow, no subprocess, no measuring. ``run.py`` prints it after a run and
writes it to ``benchmarks/results.md`` (which the benchmark page includes); ``tests/test_book_costs.py``
checks that the stored results.md is what :func:`render` makes of the stored results.json. One function per
part's table; a part missing from the results is left out. Rows are keyed by name (``vgg.rows["shared"]``,
``sampling.rows["stratified-200"]``, ``onednn.rows["on"]``) and listed in the order stored.
"""

from __future__ import annotations


def measured(results: dict, part: str) -> str:
    """When and on what ``part`` was measured, with the calibration figure of that run."""
    run = results.get("runs", {}).get(part)
    if run is None:
        return "(when and on what this part was measured was not recorded)"
    return (f"(measured {run['date']} on {run['machine']}, {run['processor']}, Python {run['python']}; a "
            f"4096 × 4096 float32 matrix product ran at {run['gflops']:.0f} GFLOP/s in that run)")


def variant_table(rows: dict[str, dict]) -> list[str]:
    """The Markdown table of a part's variants (rows keyed by variant name), timed against ``rows["stock"]``."""
    stock = rows["stock"]["seconds"]
    return ["| variant | time (s) | vs stock | peak memory (GiB) | max rel. difference | min Spearman of abs |",
            "|---|---|---|---|---|---|"] + [
        f"| {name} | {r['seconds']:.1f} | {stock / r['seconds']:.2f}x | {r['peak_gib']:.1f} | "
        f"{r['max_rel_diff']:.1e} | {r['min_spearman_abs']:.4f} |" for name, r in rows.items()]


def chapters_table(results: dict) -> list[str]:
    """Every chapter's time and peak memory in both profiles, in the order stored (reading order)."""
    data = results.get("chapter_data", {})
    out = ["**Chapters** (each in a fresh kernel, in reading order, starting without saved models). "
           f"Full profile on {data.get('full', 'data not recorded')}; quick profile on "
           f"{data.get('quick', 'data not recorded')}. {measured(results, 'chapters')}", "",
           "| chapter | full: time | full: peak memory | quick: time | quick: peak memory |",
           "|---|---|---|---|---|"]
    chapters = results["chapters"]
    for name, runs in chapters.items():
        cells = [f"{runs[p]['seconds']:.0f} s | {runs[p]['peak_gib']:.1f} GiB" if p in runs else "– | –"
                 for p in ("full", "quick")]
        out.append(f"| {name} | {' | '.join(cells)} |")
    if all({"full", "quick"} <= set(runs) for runs in chapters.values()):
        totals = [f"{sum(r[p]['seconds'] for r in chapters.values()):.0f} s | "
                  f"largest {max(r[p]['peak_gib'] for r in chapters.values()):.1f} GiB" for p in ("full", "quick")]
        out.append(f"| the whole book | {' | '.join(totals)} |")
    return out + [""] + profile_table(chapters)


def book_table(results: dict) -> list[str]:
    """The whole book's wall time as ``make book`` executes it (chapters two at a time), beside the chapters'
    sum (one at a time) when the chapters part was measured in the same run."""
    book, chapters = results["book"], results.get("chapters", {})
    runs = results.get("runs", {})
    same_run = runs.get("book") is not None and runs.get("book") == runs.get("chapters")
    jobs = next(iter(book.values()))["jobs"]
    out = [f"**The whole book as `make book` executes it**: {jobs} chapters at a time, each in its own kernel, "
           "the longest first (`_ext/execute_chapters.py`), starting without saved models. "
           + measured(results, "book"), "",
           f"| profile | one at a time (the chapters above, summed) | {jobs} at a time | change |", "|---|---|---|---|"]
    for profile, run in book.items():
        if same_run and chapters and all(profile in r for r in chapters.values()):
            alone = sum(r[profile]["seconds"] for r in chapters.values())
            out.append(f"| {profile} | {alone:.0f} s | {run['seconds']:.0f} s | {run['seconds'] / alone - 1:+.0%} |")
        else:
            out.append(f"| {profile} | – (not measured in this run) | {run['seconds']:.0f} s | – |")
    return out + [""]


def profile_table(chapters: dict) -> list[str]:
    """Where each chapter's full-profile time goes: its slowest code cells, as the run recorded them."""
    rows = {name: runs["full"]["slowest"] for name, runs in chapters.items() if runs.get("full", {}).get("slowest")}
    if not rows:
        return []
    out = ["Where the time goes in the full profile: each chapter's slowest code cells in the same run, by the "
           "first line of their code.", "", "| chapter | slowest cells |", "|---|---|"]
    for name, slowest in rows.items():
        cells = "; ".join(f"{seconds:.0f} s `{code}`".replace("|", "\\|") for code, seconds in slowest.items())
        out.append(f"| {name} | {cells} |")
    return out + [""]


def vgg_table(results: dict) -> list[str]:
    """GradientExplainer on VGG19's layer 10: the variants, and the floor set by the arithmetic."""
    vgg = results["vgg"]
    n, k = vgg["samples"], vgg["classes"]
    out = [f"**GradientExplainer, VGG19 layer 10, image 46** ({vgg['background']} backgrounds, {n} samples, "
           f"{k} ranked classes) {measured(results, 'vgg')}", ""] + variant_table(vgg["rows"])
    f = vgg["flops_per_sample"]
    floor = n * (1 + k) * f / (vgg["gflops"] * 1e9)
    return out + ["", f"Floor: the head's forward pass is {f / 1e9:.1f} GFLOP per sample and an input gradient "
                  f"about as much again, so one forward pass shared by {k} backward passes for {n} samples is "
                  f"{n * (1 + k) * f / 1e12:.1f} TFLOP: **{floor:.0f} s** at the measured {vgg['gflops']:.0f} "
                  f"GFLOP/s (stock shap does {n * k * 2 * f / 1e12:.1f} TFLOP).", ""]


def sampling_table(results: dict) -> list[str]:
    """shap's and stratified sampling at each size: error, rank agreement and overlap against the reference."""
    sm = results["sampling"]
    out = [f"**Expected-gradients sampling, VGG19 layer 10, image 46, top class** (50 backgrounds; against a "
           f"reference of {sm['reference_samples']} stratified draws; mean over {sm['seeds']} seeds) "
           f"{measured(results, 'sampling')}", "",
           "| sampling | nsamples | relative error | Spearman (signed) | top-5% overlap |",
           "|---|---|---|---|---|"]
    for r in sm["rows"].values():
        out.append(f"| {r['sampling']} | {r['nsamples']} | {r['rel_error']:.3f} | {r['spearman']:.3f} | "
                   f"{r['top5_overlap']:.2f} |")
    out += ["", "(The cost of either sampling is the same per sample: the draws only choose which points "
            "the model is evaluated at.)"]
    shap_rows = sorted((r["nsamples"], r["rel_error"]) for r in sm["rows"].values() if r["sampling"] == "shap")
    if len(shap_rows) >= 2:
        # shap's draws are independent of the reference: error^2 = s^2 / n + e_ref^2; two sizes give both
        (n1, e1), (n2, e2) = shap_rows[0], shap_rows[-1]
        spread = (e1**2 - e2**2) / (1 / n1 - 1 / n2)
        reference_sq = e2**2 - spread / n2
        if reference_sq > 0:
            out += ["", f"The reference is itself an estimate. If shap's draws are independent of it, the squared "
                    f"error at n samples is s²/n plus the reference's own squared error; shap's rows at {n1} and "
                    f"{n2} samples then put the reference's own relative error at about "
                    f"{reference_sq**0.5:.3f}. Every error in the table includes it (added in quadrature), so "
                    f"shap's error at {n2} samples from the exact values is about "
                    f"{(e2**2 - reference_sq)**0.5:.3f} rather than {e2:.3f}; the comparison between rows "
                    "stands."]
        else:
            out += ["", f"The reference is itself an estimate; shap's rows at {n1} and {n2} samples fall faster "
                    "than 1/√n between them, so they cannot estimate its own error in this run."]
    return out + [""]


def deep_table(results: dict) -> list[str]:
    """DeepExplainer on the CIFAR-10 CNN: stock shap against the chunked background."""
    deep = results["deep"]
    return [f"**DeepExplainer, CIFAR-10 CNN** ({deep['background']} backgrounds, {deep['images']} images, "
            f"10 classes) {measured(results, 'deep')}", ""] + variant_table(deep["rows"]) + [""]


TRAINING_LABELS = {"full": "this book's CNN, full-profile recipe, on the full profile's data",
                   "full-on-quick-data": "this book's CNN, full-profile recipe",
                   "quick": "this book's CNN, quick-profile recipe",
                   "previous": "the previous edition's CNN (15 epochs)",
                   "original": "the original notebook's CNN (bug included, 15 epochs)"}


def training_table(results: dict) -> list[str]:
    """The CIFAR-10 networks trained: weights, training time and test accuracy, in the order of the labels."""
    out = [f"**CIFAR-10 training** (10% of the training images held out for validation) "
           f"{measured(results, 'training')}", "",
           "| model | data | weights | training time (s) | test accuracy |", "|---|---|---|---|---|"]
    for name, label in TRAINING_LABELS.items():
        r = results["training"].get(name)
        if r is not None:
            out.append(f"| {label} | {r.get('data', 'not recorded')} | {r['weights']:,} | {r['seconds']:.0f} | "
                       f"{r['accuracy']:.3f} |")
    return out + [""]


def onednn_table(results: dict) -> list[str]:
    """VGG19's forward pass and input gradient with oneDNN off and on, and how far apart their gradients are."""
    one = results["onednn"]
    out = [f"**VGG19 with oneDNN's custom operations off and on** ({one['images']} imagenet50 photos, "
           f"batches of 10; seconds per photo) {measured(results, 'onednn')}", "",
           "| oneDNN | forward pass (s) | vs off | gradient of a logit (s) | vs off | peak memory (GiB) |",
           "|---|---|---|---|---|---|"]
    off = one["rows"]["off"]
    for name, r in one["rows"].items():
        out.append(f"| {name} | {r['forward_s']:.3f} | {off['forward_s'] / r['forward_s']:.2f}x | "
                   f"{r['gradient_s']:.3f} | {off['gradient_s'] / r['gradient_s']:.2f}x | {r['peak_gib']:.1f} |")
    return out + ["", f"The two gradients differ by at most {one['max_rel_diff']:.1e} of the largest value "
                  f"(minimum Spearman of their magnitudes over the photos: {one['min_spearman_abs']:.4f}): oneDNN "
                  "sums in another order, and a different rounding can flip a ReLU near zero.", ""]


TABLES = {"chapters": chapters_table, "book": book_table, "vgg": vgg_table, "sampling": sampling_table,
          "deep": deep_table, "training": training_table, "onednn": onednn_table}


def render(results: dict) -> str:
    """The Markdown of ``results``: the note on scaling times, then each part's table, in the order of TABLES."""
    out = [f"Each table says when it was measured, and the float32 matrix-product throughput measured in the same "
           f"run: to scale a time to another machine, measure that product there (the times are mostly such "
           f"arithmetic, so they scale roughly inversely). VGG19 weights: {results['vgg_weights']}.", ""]
    for part, table in TABLES.items():
        if part in results:
            out += table(results)
    return "\n".join(out) + "\n"
