"""_ext/book_costs.py: the pages' run times come from benchmarks/results.json, formatted here."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("book_costs", ROOT / "_ext" / "book_costs.py")
book_costs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(book_costs)

RESULTS = {"date": "2026-11-25", "machine": "x86_64, 2 cores",
           "chapters": {"deep": {"full": {"seconds": 118.4, "peak_gib": 1.46},
                                 "quick": {"seconds": 41, "peak_gib": 1.2}},
                        "half": {"quick": {"seconds": 40, "peak_gib": 1.0}}}}


def test_cost_text_states_both_profiles_and_where_they_were_measured():
    text = book_costs.cost_text("deep", RESULTS)
    assert text == ("about 1 min 58 s and 1.5 GiB in the full profile, 41 s and 1.2 GiB in the quick profile "
                    "(x86_64, 2 cores, measured 2026-11-25)")


def test_a_chapter_measured_in_one_profile_only_has_no_cost_text():
    assert book_costs.cost_text("half", RESULTS) is None
    assert book_costs.cost_text("missing", RESULTS) is None


def test_every_chapter_of_the_book_is_in_the_results_file():
    """The pages draw their run times from results.json: a chapter added without running the benchmark fails
    here (and the -W build fails on the role's warning)."""
    from helpers.book import notebook_chapters

    results = json.loads((ROOT / "benchmarks" / "results.json").read_text())
    missing = [p.stem for p in notebook_chapters() if book_costs.cost_text(p.stem, results) is None]
    assert not missing, f"run `benchmarks/run.py --parts chapters --write` for {missing}"
