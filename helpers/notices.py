"""Notices shown to the reader inside a chapter: warning boxes, and values glued into the prose.

(Named ``notices`` rather than ``display`` so that it cannot be confused with ``IPython.display``.)"""

from __future__ import annotations

import html
import re

from helpers.errors import InputError


class WarningBox:
    """A warning that renders as a red admonition in the book and in Jupyter (``display(WarningBox(...))``)."""

    kind, label, border, background = "warning", "WARNING", "#d9534f", "#fdf0ef"

    def __init__(self, title: str, text: str) -> None:
        self.title = title
        self.text = text

    def _repr_html_(self) -> str:
        return (
            f'<div class="admonition {self.kind}" style="border-left: 6px solid {self.border}; padding: 0.4em 1em; '
            f'background: {self.background};">'
            f'<p class="admonition-title" style="font-weight: bold;">{html.escape(self.title)}</p>'
            f"<p>{html.escape(self.text)}</p></div>"
        )

    def __repr__(self) -> str:
        return f"{self.label}: {self.title}\n{self.text}"


class NoteBox(WarningBox):
    """A note that renders as a blue admonition (``display(NoteBox(...))``)."""

    kind, label, border, background = "note", "NOTE", "#3b7dd8", "#eef4fc"


def profile_notice(shrinks: str | None, caveat: str) -> NoteBox:
    """The note a chapter shows near its top: which profile runs, and what the quick profile changes.

    ``shrinks`` says what the quick profile makes smaller (for example "8 samples per class instead of 200"),
    or ``None`` for a chapter cheap enough to run its full settings in the quick profile too; ``caveat`` what
    a reader should not conclude from a quick run (for example "the maps are noisier: do not read single
    pixels"). In the full profile the note only says that the tutorial's own settings run.

    A ``{name}`` or ``{expression}`` left in either text (a line of an f-string without its ``f``) is refused
    in both profiles, so the full build finds it too; the notes are plain text, where braces around a name
    have no other use.
    """
    from helpers.config import PROFILE_VAR, profile

    for label, text in (("shrinks", shrinks), ("caveat", caveat)):
        unfilled = re.search(r"\{[A-Za-z_][^{}]*\}", text or "")
        if unfilled:
            raise InputError(f"{label} holds {unfilled.group()} unfilled: the line that holds it needs the f of an "
                             "f-string.")
    if profile() == "full":
        return NoteBox("Full profile", "This run uses the tutorial's own settings, as written.")
    changes = ("This chapter is cheap: the quick run uses the full profile's settings unchanged." if shrinks is None
               else f"To run in minutes on a laptop, this quick run uses {shrinks}.")
    return NoteBox(
        f"Quick profile ({PROFILE_VAR}=quick)",
        f"{changes} In this run, {caveat} Run the full profile to see the tutorial's own results.",
    )


def standin_weights_warning(model_name: str) -> WarningBox:
    """The notice a chapter shows when ``model_name`` runs with random stand-in weights."""
    return WarningBox(
        f"{model_name} runs with RANDOM weights in this build",
        f"Its pretrained weights could not be loaded here, and this run allowed random stand-ins (quick profile "
        f"or SHAP_BOOK_ALLOW_STANDIN_WEIGHTS=1). Every prediction and every map below comes from an untrained "
        f"network and means nothing about the photo; the code, the shapes and the checks are still real. Run "
        f"with the real weights to see what {model_name} sees.",
    )


def glue(name: str, text: str) -> None:
    """Make ``text`` available to the chapter's prose as ``{glue:text}`name```.

    In the built book this is myst-nb's ``glue``; where myst-nb is not installed (Colab, a plain Jupyter) the
    prose cannot refer to outputs anyway, so the text is only printed. The chapters call it in cells tagged
    ``remove-cell``, after the cell that computes the value: hidden in the book, visible in a notebook.
    """
    if not isinstance(text, str) or not text:
        raise InputError(f"glue({name!r}, ...) needs the text the prose shows, a non-empty str; got {text!r}. "
                         "Format the value first, e.g. f\"{value:.2f}\".")
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        print(f"{name} = {text}")
        return
    myst_glue(name, text, display=False)
