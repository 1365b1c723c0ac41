"""helpers.notices: warning boxes and glued values."""

import pytest

from helpers import config
from helpers.errors import InputError
from helpers.notices import NoteBox, WarningBox, glue, profile_notice


def test_warning_box_renders_escaped_html():
    box = WarningBox("Random <weights>", "means nothing")
    assert "Random &lt;weights&gt;" in box._repr_html_() and "admonition warning" in box._repr_html_()


def test_glue_prints_where_myst_nb_is_missing(monkeypatch, capsys):
    import sys



    monkeypatch.setitem(sys.modules, "myst_nb", None)  # makes `import myst_nb` fail
    glue("accuracy", "50%")
    assert capsys.readouterr().out == "accuracy = 50%\n"


@pytest.mark.parametrize("text", [0.5, "", None])
def test_glue_refuses_what_the_prose_cannot_show(text):
    with pytest.raises(InputError, match="non-empty str"):
        glue("accuracy", text)


def test_profile_notice_says_what_the_quick_profile_changes(monkeypatch):
    monkeypatch.setenv(config.PROFILE_VAR, "quick")
    note = profile_notice("8 samples instead of 200", "the maps are noisier.")
    assert isinstance(note, NoteBox) and "8 samples instead of 200" in note._repr_html_()
    assert repr(note).startswith("NOTE: Quick profile")
    monkeypatch.setenv(config.PROFILE_VAR, "full")
    assert "own settings" in profile_notice("x", "y").text


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_profile_notice_refuses_a_placeholder_left_unfilled(monkeypatch, profile):
    monkeypatch.setenv(config.PROFILE_VAR, profile)
    with pytest.raises(InputError, match=r"shrinks holds \{BACKGROUND\} unfilled: .* f-string"):
        profile_notice("8 samples and {BACKGROUND} images", "the maps are noisier.")
    with pytest.raises(InputError, match=r"caveat holds \{n:.2f\} unfilled"):
        profile_notice(None, "the error is {n:.2f}.")
    with pytest.raises(InputError, match=r"shrinks holds \{len\(PHOTOS\)\} unfilled"):
        profile_notice("{len(PHOTOS)} photos instead of 4", "fine.")
    profile_notice("a set {1, 2}", "a dict {}.")  # braces that are not placeholders pass


def test_profile_notice_of_a_chapter_that_shrinks_nothing(monkeypatch):
    monkeypatch.setenv(config.PROFILE_VAR, "quick")
    text = profile_notice(None, "the numbers depend on the data.").text
    assert "settings unchanged" in text and "To run in minutes" not in text and "None" not in text
    assert "In this run, the numbers depend on the data." in text
