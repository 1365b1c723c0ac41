"""Chapter run times and memory, from one generated source: ``benchmarks/results.json``.

``benchmarks/run.py --write`` measures every chapter in both profiles and writes that file; the pages draw
from it, so no time is written by hand:

- the role ``{chapter-cost}`NAME``` renders "about 1 min 40 s and 2.1 GiB in the full profile, 38 s and 1.2 GiB in
  the quick profile (2-core CPU, measured 2026-11-25)" for ``chapters/NAME``;
- the directive ``{chapter-costs}`` renders the table of every chapter (the teachers' table);
- the role ``{benchmark-value}`KEY.KEY:FORMAT``` renders any other measured value, e.g.
  ``{benchmark-value}`training.quick.accuracy:.2f``` or
  ``{benchmark-value}`sampling.rows.stratified-200.rel_error:.3f``` (rows are named, never numbered: a path
  means the same row however the benchmark's grid changes).

A chapter missing from the file renders as "not measured yet", and the build warns (so `-W` fails): run the
benchmark after adding a chapter.
"""

from __future__ import annotations

import json
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective, SphinxRole

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results.json"
LOGGER = logging.getLogger(__name__)


def _results() -> dict:
    return json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 90:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest:02d} s"


def _chapters_run(results: dict) -> dict:
    """When and on what the chapters were measured (older files kept it only at the top level)."""
    return results.get("runs", {}).get("chapters", results)


def _data_label(results: dict, profile: str) -> str:
    """The short name of the CIFAR-10 a profile's chapters read ("the full CIFAR-10", "the 10 000-image subset")."""
    detail = results.get("chapter_data", {}).get(profile, "")
    return detail.split(",")[0] if detail else "data not recorded"


def reads_cifar10(name: str) -> bool:
    """Whether chapters/NAME.md loads CIFAR-10, whose two copies (full set, subset) the profiles were timed on."""
    source = RESULTS.parents[1] / "chapters" / f"{name}.md"
    text = source.read_text() if source.is_file() else ""
    return any(call in text for call in ("load_cifar10(", "cifar.load(", "cifar.trained_cnn("))


def cost_text(name: str, results: dict, reads_data: bool | None = None) -> str | None:
    """The sentence for one chapter, or None when it was not measured in both profiles. For a chapter that
    reads CIFAR-10 (``reads_data``; by default :func:`reads_cifar10`) it names the copy each profile read."""
    runs = results.get("chapters", {}).get(name, {})
    if not {"full", "quick"} <= set(runs):
        return None
    full, quick = runs["full"], runs["quick"]
    run = _chapters_run(results)
    if reads_data is None:
        reads_data = reads_cifar10(name)
    on = {p: f" (on {_data_label(results, p)})" if reads_data else "" for p in ("full", "quick")}
    return (f"about {_duration(full['seconds'])} and {full['peak_gib']:.1f} GiB in the full profile{on['full']}, "
            f"{_duration(quick['seconds'])} and {quick['peak_gib']:.1f} GiB in the quick profile{on['quick']}; "
            f"{run['machine']}{_calibration(run)}, measured {run['date']}")


def _calibration(run: dict) -> str:
    """The processor and the calibration figure of a run, to scale its times by (empty if not recorded)."""
    parts = [run[key] for key in ("processor",) if run.get(key) and run[key] != "not recorded"]
    if run.get("gflops"):
        parts.append(f"a float32 matrix product at {run['gflops']:.0f} GFLOP/s, which benchmarks/run.py "
                     "--calibrate measures on yours: times scale roughly inversely with it")
    return f" ({'; '.join(parts)})" if parts else ""


class ChapterCostRole(SphinxRole):
    def run(self):
        text = cost_text(self.text, _results())
        if text is None:
            LOGGER.warning(f"chapter {self.text!r} has no full and quick timing in {RESULTS.name}: run "
                           "benchmarks/run.py --write", location=self.get_location())
            text = "not measured yet"
        return [nodes.Text(text)], []


def lookup(results: dict, path: str):
    """The value at ``path`` (keys joined by dots) in ``results``, or None."""
    value = results
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


class BenchmarkValueRole(SphinxRole):
    def run(self):
        path, _, spec = self.text.partition(":")
        value = lookup(_results(), path)
        if value is None:
            LOGGER.warning(f"{path!r} is not in {RESULTS.name}: run benchmarks/run.py --write",
                           location=self.get_location())
            return [nodes.Text("not measured yet")], []
        return [nodes.Text(format(value, spec))], []


class ChapterCostsDirective(SphinxDirective):
    """A table: chapter, quick profile, full profile."""

    def run(self):
        results = _results()
        table = nodes.table()
        group = nodes.tgroup(cols=3)
        table += group
        for _ in range(3):
            group += nodes.colspec(colwidth=1)
        head, body = nodes.thead(), nodes.tbody()
        group += head
        group += body

        def row(cells):
            line = nodes.row()
            for cell in cells:
                entry = nodes.entry()
                entry += cell if isinstance(cell, nodes.Node) else nodes.paragraph(text=cell)
                line += entry
            return line

        head += row(["chapter", "quick profile", "full profile"])
        from book_toc import notebook_chapters

        for path in notebook_chapters():
            runs = results.get("chapters", {}).get(path.stem, {})
            if not {"full", "quick"} <= set(runs):
                LOGGER.warning(f"chapter {path.stem!r} is not in {RESULTS.name}: run benchmarks/run.py --write",
                               location=self.get_location())
                continue
            link = nodes.paragraph()
            ref = addnodes.pending_xref("", refdomain="std", reftype="doc", reftarget=f"/chapters/{path.stem}",
                                        refexplicit=False, refwarn=True, refdoc=self.env.docname)
            ref += nodes.inline(text=path.stem)
            link += ref
            body += row([link] + [f"{_duration(runs[p]['seconds'])}, {runs[p]['peak_gib']:.1f} GiB"
                                  for p in ("quick", "full")])
        run = _chapters_run(results)
        caption = nodes.paragraph(
            text=f"Measured on {run.get('machine', '?')}{_calibration(run)}, "
                 f"{run.get('date', '?')}, by benchmarks/run.py: the quick profile on "
                 f"{results.get('chapter_data', {}).get('quick', 'data not recorded')}, the full profile on "
                 f"{results.get('chapter_data', {}).get('full', 'data not recorded')}.")
        return [table, caption]


def setup(app: Sphinx) -> dict:
    app.add_role("chapter-cost", ChapterCostRole())
    app.add_role("benchmark-value", BenchmarkValueRole())
    app.add_directive("chapter-costs", ChapterCostsDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
