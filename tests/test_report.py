"""benchmarks/report.py: each part's Markdown table, rendered from a small hand-made results dict (pure: no
TensorFlow, nothing measured)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import report  # noqa: E402

RUN = {"date": "2026-12-01", "python": "3.12.1", "machine": "x86_64, 2 cores", "processor": "Test CPU",
       "gflops": 500.0, "vgg_weights": "ImageNet"}
MEASURED = ("(measured 2026-12-01 on x86_64, 2 cores, Test CPU, Python 3.12.1; a 4096 × 4096 float32 matrix "
            "product ran at 500 GFLOP/s in that run)")


def variant(seconds, peak, rel, rho):
    return {"seconds": seconds, "peak_gib": peak, "max_rel_diff": rel, "min_spearman_abs": rho}


@pytest.fixture
def results():
    return {
        "vgg_weights": "ImageNet",
        "runs": {part: RUN for part in ("chapters", "vgg", "sampling", "deep", "onednn")},  # not training
        "chapter_data": {"full": "the full CIFAR-10", "quick": "the subset"},
        "chapters": {"second": {"full": {"seconds": 100.4, "peak_gib": 2.04}, "quick": {"seconds": 9.6,
                                                                                        "peak_gib": 1.0}},
                     "first": {"quick": {"seconds": 12, "peak_gib": 0.95}}},
        # stock listed last: "vs stock" is taken from the row named stock, not from the first one
        "vgg": {"rows": {"shared": variant(40.0, 3.6, 4.1e-7, 0.99999), "stock": variant(80.0, 5.9, 0.0, 1.0)},
                "flops_per_sample": 20e9, "gflops": 500.0, "samples": 200, "classes": 4, "background": 50},
        "sampling": {"rows": {"stratified-50": {"sampling": "stratified", "nsamples": 50, "rel_error": 0.4936,
                                                "spearman": 0.8746, "top5_overlap": 0.716, "seconds": 5.0},
                              "shap-50": {"sampling": "shap", "nsamples": 50, "rel_error": 0.6124,
                                          "spearman": 0.8334, "top5_overlap": 0.631, "seconds": 5.0}},
                     "reference_samples": 1000, "seeds": 2},
        "deep": {"rows": {"stock": variant(60.0, 5.4, 0.0, 1.0), "chunked": variant(50.0, 1.2, 7e-7, 1.0)},
                 "flops_per_forward": 2e7, "gflops": 500.0, "background": 1000, "images": 10},
        "training": {"original": {"seconds": 27.9, "peak_gib": 1.1, "accuracy": 0.5, "weights": 1861450},
                     "full": {"seconds": 32.8, "peak_gib": 1.5, "accuracy": 0.6445, "weights": 357706,
                              "data": "the subset"}},
        "onednn": {"images": 20, "max_rel_diff": 0.0917, "min_spearman_abs": 0.99652,
                   "rows": {"on": {"forward_s": 0.1, "gradient_s": 0.16, "peak_gib": 2.1},
                            "off": {"forward_s": 0.12, "gradient_s": 0.32, "peak_gib": 2.4}}},
    }


def table(lines: list[str]) -> list[str]:
    """The table rows of a part's lines (header and separator left out)."""
    return [line for line in lines if line.startswith("| ")][1:]


def test_chapters_table_lists_the_chapters_in_the_order_stored_and_marks_a_missing_profile(results):
    lines = report.chapters_table(results)
    assert lines[0].startswith("**Chapters**")
    assert "Full profile on the full CIFAR-10; quick profile on the subset." in lines[0]
    assert lines[0].endswith(MEASURED)
    assert table(lines) == ["| second | 100 s | 2.0 GiB | 10 s | 1.0 GiB |", "| first | – | – | 12 s | 0.9 GiB |"]


def test_chapters_table_adds_the_whole_book_and_where_the_time_goes(results):
    slow = {"values = explain(a | b)": 80.2, "import helpers": 9.6}
    results["chapters"] = {"one": {"full": {"seconds": 100.4, "peak_gib": 2.04, "slowest": slow},
                                   "quick": {"seconds": 9.6, "peak_gib": 1.0}},
                           "two": {"full": {"seconds": 50, "peak_gib": 3.5}, "quick": {"seconds": 20, "peak_gib": 0.5}}}
    lines = report.chapters_table(results)
    assert "| the whole book | 150 s | largest 3.5 GiB | 30 s | largest 1.0 GiB |" in lines
    # a pipe in the code is escaped, so the table keeps its columns
    assert "| one | 80 s `values = explain(a \\| b)`; 10 s `import helpers` |" in lines
    assert not any(line.startswith("| two |") and "`" in line for line in lines)


def test_book_table_sets_two_at_a_time_beside_the_chapters_sum_of_the_same_run_only(results):
    results["chapters"] = {"one": {"full": {"seconds": 300, "peak_gib": 2}, "quick": {"seconds": 30, "peak_gib": 1}},
                           "two": {"full": {"seconds": 100, "peak_gib": 3}, "quick": {"seconds": 10, "peak_gib": 1}}}
    results["book"] = {"full": {"jobs": 2, "seconds": 300.0}, "quick": {"jobs": 2, "seconds": 36.0}}
    results["runs"]["book"] = RUN
    lines = report.book_table(results)
    assert lines[0].startswith("**The whole book as `make book` executes it**: 2 chapters at a time")
    assert lines[0].endswith(MEASURED)
    assert table(lines) == ["| full | 400 s | 300 s | -25% |", "| quick | 40 s | 36 s | -10% |"]
    # measured in another run than the chapters: no ratio across runs
    apart = [f"| {p} | – (not measured in this run) | {t} s | – |" for p, t in (("full", 300), ("quick", 36))]
    results["runs"]["book"] = {**RUN, "date": "2026-12-02"}
    assert table(report.book_table(results)) == apart
    # neither run recorded: not the same run either
    del results["runs"]["book"], results["runs"]["chapters"]
    assert table(report.book_table(results)) == apart


def test_vgg_table_times_each_variant_against_the_row_named_stock_and_states_the_floor(results):
    lines = report.vgg_table(results)
    assert lines[0] == ("**GradientExplainer, VGG19 layer 10, image 46** (50 backgrounds, 200 samples, 4 ranked "
                        f"classes) {MEASURED}")
    assert table(lines) == ["| shared | 40.0 | 2.00x | 3.6 | 4.1e-07 | 1.0000 |",
                            "| stock | 80.0 | 1.00x | 5.9 | 0.0e+00 | 1.0000 |"]
    # 200 samples x (1 forward + 4 backward) x 20 GFLOP = 20 TFLOP, at 500 GFLOP/s: 40 s; stock: 200 x 4 x 2 x 20
    floor = next(line for line in lines if line.startswith("Floor:"))
    assert "is 20.0 GFLOP per sample" in floor and "is 20.0 TFLOP: **40 s** at the measured 500 GFLOP/s" in floor
    assert floor.endswith("(stock shap does 32.0 TFLOP).")


def test_sampling_table_lists_the_rows_in_the_order_stored(results):
    lines = report.sampling_table(results)
    assert "reference of 1000 stratified draws; mean over 2 seeds" in lines[0]
    assert table(lines) == ["| stratified | 50 | 0.494 | 0.875 | 0.72 |", "| shap | 50 | 0.612 | 0.833 | 0.63 |"]


def test_deep_table_is_a_variant_table(results):
    lines = report.deep_table(results)
    assert lines[0] == f"**DeepExplainer, CIFAR-10 CNN** (1000 backgrounds, 10 images, 10 classes) {MEASURED}"
    assert table(lines) == ["| stock | 60.0 | 1.00x | 5.4 | 0.0e+00 | 1.0000 |",
                            "| chunked | 50.0 | 1.20x | 1.2 | 7.0e-07 | 1.0000 |"]


def test_training_table_follows_the_labels_order_and_says_what_was_not_recorded(results):
    lines = report.training_table(results)
    assert lines[0].endswith("(when and on what this part was measured was not recorded)")
    assert table(lines) == [
        "| this book's CNN, full-profile recipe, on the full profile's data | the subset | 357,706 | 33 | 0.644 |",
        "| the original notebook's CNN (bug included, 15 epochs) | not recorded | 1,861,450 | 28 | 0.500 |"]


def test_onednn_table_times_each_setting_against_the_row_named_off(results):
    lines = report.onednn_table(results)
    assert table(lines) == ["| on | 0.100 | 1.20x | 0.160 | 2.00x | 2.1 |",
                            "| off | 0.120 | 1.00x | 0.320 | 1.00x | 2.4 |"]
    assert "differ by at most 9.2e-02 of the largest value" in lines[-2]
    assert "over the photos: 0.9965)" in lines[-2]


def test_render_puts_the_parts_in_order_and_leaves_out_the_missing_ones(results):
    text = report.render(results)
    assert text.startswith("Each table says when it was measured") and text.endswith("\n")
    assert "VGG19 weights: ImageNet." in text.splitlines()[0]
    heads = [line.split("**")[1] for line in text.splitlines() if line.startswith("**")]
    assert heads == ["Chapters", "GradientExplainer, VGG19 layer 10, image 46",
                     "Expected-gradients sampling, VGG19 layer 10, image 46, top class", "DeepExplainer, CIFAR-10 CNN",
                     "CIFAR-10 training", "VGG19 with oneDNN's custom operations off and on"]
    del results["chapters"], results["onednn"]
    assert "**Chapters**" not in report.render(results) and "oneDNN" not in report.render(results)


def test_every_part_the_benchmark_runs_has_a_table():
    import run

    assert list(report.TABLES) == list(run.PARTS)


def test_the_report_imports_neither_tensorflow_nor_the_helpers():
    code = ("import sys; sys.path.insert(0, 'benchmarks'); import report; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'helpers', 'subprocess', 'numpy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
