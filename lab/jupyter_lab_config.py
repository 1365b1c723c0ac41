"""JupyterLab on the chapters, as `make lab` starts it: `jupyter lab --config=lab/jupyter_lab_config.py`.

- The server listens on 127.0.0.1 only, with Jupyter's usual token, and shows chapters/.
- Every chapters/*.md opens as a notebook on a double click: jupytext's "Jupytext Notebook" viewer is the
  default for Markdown and MyST files in lab/settings/overrides.json, and this file makes lab/settings
  JupyterLab's application settings directory. Overrides are defaults: the reader's own JupyterLab settings
  (~/.jupyter/lab/user-settings) are neither read nor changed, and a viewer chosen there still wins.
- Saving a chapter writes both files of its pair, chapters/NAME.md and chapters/NAME.ipynb (the chapters'
  front matter says `formats: ipynb,md:myst`; jupytext's server extension, installed with jupytext, does it).
- The kernel is the `python3` kernelspec of the environment's ipykernel, which Jupyter starts with the server's
  own Python (.venv/bin/python); the Makefile sets JUPYTER_PREFER_ENV_PATH=1 so that a `python3` kernelspec in
  the user's Jupyter directories cannot take its place. Kernels inherit the server's environment:
  SHAP_BOOK_PROFILE and SHAP_BOOK_DATA (which the Makefile makes absolute) reach the chapters.
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent
c = get_config()  # noqa: F821 (Jupyter defines get_config when it loads this file)

c.ServerApp.ip = "127.0.0.1"
c.ServerApp.root_dir = str(HERE.parent / "chapters")
c.LabApp.app_settings_dir = str(HERE / "settings")
