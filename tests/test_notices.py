"""helpers.notices: warning boxes and glued values."""

from helpers.notices import WarningBox, glue


def test_warning_box_renders_escaped_html():
    box = WarningBox("Random <weights>", "means nothing")
    assert "Random &lt;weights&gt;" in box._repr_html_() and "admonition warning" in box._repr_html_()


def test_glue_prints_where_myst_nb_is_missing(monkeypatch, capsys):
    import sys



    monkeypatch.setitem(sys.modules, "myst_nb", None)  # makes `import myst_nb` fail
    glue("accuracy", 0.5, "50%")
    assert capsys.readouterr().out == "accuracy = 50%\n"
