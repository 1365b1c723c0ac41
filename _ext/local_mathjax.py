"""Serve MathJax from the built book instead of a CDN.

MathJax 3.2.2 comes from the PyPI package ``django-static-mathjax`` (installed by requirements.txt; it needs
no Django). Its ``es5/`` build is copied to ``_static/mathjax/`` of the HTML output, and ``mathjax_path``
points there, so pages load no script from another host.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError


def _es5() -> Path:
    try:
        import mathjax  # the django-static-mathjax package
    except ImportError:
        raise ExtensionError("MathJax is missing: install the requirements (pip install -r requirements.txt), "
                             "which bring it as the package django-static-mathjax.") from None
    return Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"


def _copy(app: Sphinx, exception: Exception | None) -> None:
    if exception is None and app.builder.format == "html":
        shutil.copytree(_es5(), Path(app.outdir) / "_static" / "mathjax", dirs_exist_ok=True)


def setup(app: Sphinx) -> dict[str, object]:
    if not (_es5() / "tex-mml-chtml.js").is_file():
        raise ExtensionError(f"MathJax's tex-mml-chtml.js is not in {_es5()}: reinstall django-static-mathjax.")
    app.config.mathjax_path = "mathjax/tex-mml-chtml.js"
    app.connect("build-finished", _copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
