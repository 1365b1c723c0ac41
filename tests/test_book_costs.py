"""_ext/book_costs.py: the pages' run times come from benchmarks/results.json, formatted here."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("book_costs", ROOT / "_ext" / "book_costs.py")
book_costs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(book_costs)

RESULTS = {"date": "2026-11-30", "machine": "x86_64, 2 cores",
           "runs": {"chapters": {"date": "2026-11-25", "machine": "x86_64, 2 cores"}},
           "chapter_data": {"full": "the full CIFAR-10, 50 000 training / 10 000 test images (cifar10.npz)",
                            "quick": "the class-balanced subset of CIFAR-10, 10 000 training / 2 000 test images"},
           "chapters": {"deep": {"full": {"seconds": 118.4, "peak_gib": 1.46},
                                 "quick": {"seconds": 41, "peak_gib": 1.2}},
                        "half": {"quick": {"seconds": 40, "peak_gib": 1.0}}},
           "sampling": {"rows": {"shap-50": {"nsamples": 50}, "stratified-200": {"nsamples": 200}}}}


def test_cost_text_states_both_profiles_their_data_and_where_they_were_measured():
    text = book_costs.cost_text("deep", RESULTS, reads_data=True)
    assert text == ("about 1 min 58 s and 1.5 GiB in the full profile (on the full CIFAR-10), 41 s and 1.2 GiB in "
                    "the quick profile (on the class-balanced subset of CIFAR-10); x86_64, 2 cores, measured "
                    "2026-11-25")
    assert "CIFAR" not in book_costs.cost_text("deep", RESULTS, reads_data=False)
    # with the processor and the calibration figure recorded, the sentence gives both, to scale the times by
    calibrated = {**RESULTS, "runs": {"chapters": {"date": "2026-11-25", "machine": "x86_64, 2 cores",
                                                   "processor": "AMD EPYC", "gflops": 218.4}}}
    assert book_costs.cost_text("deep", calibrated, reads_data=False).endswith(
        "x86_64, 2 cores (AMD EPYC; a float32 matrix product at 218 GFLOP/s, which benchmarks/run.py --calibrate "
        "measures on yours: times scale roughly inversely with it), measured 2026-11-25")
    assert book_costs.reads_cifar10("deep_explanations") and not book_costs.reads_cifar10("gradient_explanations")


def test_lookup_follows_keys():
    assert book_costs.lookup(RESULTS, "sampling.rows.stratified-200.nsamples") == 200
    assert book_costs.lookup(RESULTS, "sampling.rows.1.nsamples") is None  # rows are named, not numbered
    assert book_costs.lookup(RESULTS, "chapters.deep.full.nope") is None


def test_results_json_names_every_row():
    """The pages quote rows by name (``sampling.rows.stratified-200``): a list in results.json would be read by
    position, and silently mean another row when the grid changes."""
    def lists(value, path="results"):
        if isinstance(value, list):
            yield path
        elif isinstance(value, dict):
            for key, item in value.items():
                yield from lists(item, f"{path}.{key}")

    results = json.loads((ROOT / "benchmarks" / "results.json").read_text())
    assert not list(lists(results)), "rows are stored as dicts keyed by name (see benchmarks/variants.py)"


def test_every_benchmark_value_the_pages_quote_resolves():
    """A {benchmark-value} path that no longer exists in results.json (a renamed key, a row no longer measured)
    fails here, before the -W build does."""
    import re

    results = json.loads((ROOT / "benchmarks" / "results.json").read_text())
    pages = [*ROOT.glob("chapters/*.md"), ROOT / "teaching.md", ROOT / "intro.md"]
    quoted = {(page.name, path) for page in pages
              for path in re.findall(r"\{benchmark-value\}`([^`:]+)", page.read_text())}
    assert quoted, "no page quotes a benchmark value: the pattern is wrong"
    missing = sorted((page, path) for page, path in quoted if book_costs.lookup(results, path) is None)
    assert not missing, f"not in benchmarks/results.json: {missing}"


def test_results_md_is_what_the_report_makes_of_results_json():
    """results.md is generated: an edit by hand, or a report change without regenerating it, fails here."""
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import report

    results = json.loads((ROOT / "benchmarks" / "results.json").read_text())
    assert (ROOT / "benchmarks" / "results.md").read_text() == report.render(results), (
        "regenerate it: benchmarks/run.py --write (or write report.render(results) to benchmarks/results.md)")


def test_a_chapter_measured_in_one_profile_only_has_no_cost_text():
    assert book_costs.cost_text("half", RESULTS) is None
    assert book_costs.cost_text("missing", RESULTS) is None


def test_every_chapter_of_the_book_is_in_the_results_file():
    """The pages draw their run times from results.json: a chapter added without running the benchmark fails
    here (and the -W build fails on the role's warning)."""
    from book_toc import notebook_chapters

    results = json.loads((ROOT / "benchmarks" / "results.json").read_text())
    missing = [p.stem for p in notebook_chapters() if book_costs.cost_text(p.stem, results) is None]
    assert not missing, f"run `benchmarks/run.py --parts chapters --write` for {missing}"
