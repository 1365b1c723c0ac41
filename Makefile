# Two commands do everything on a fresh machine (see README.md):
#   make book   executes every chapter and builds the book into _build/html
#   make test   runs the unit tests and executes every chapter with nbval (quick profile unless set)
# and one works through the chapters on the reader's machine:
#   make lab    starts JupyterLab on chapters/, every chapter's .md opening as a notebook
# All three create or refresh the virtual environment .venv first.

# The interpreter: PYTHON if given, else the first Python 3.12 or 3.13 found on PATH or under pyenv
# (a pyenv shim that fails to run is skipped). None found: `make` stops and names the versions it accepts.
PYTHON_VERSIONS := 3.12 3.13
PYTHON ?= $(shell for c in $(foreach v,$(PYTHON_VERSIONS),python$(v)) python3 \
	  $$(ls -d $$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)/versions/3.1[23]*/bin/python3 2>/dev/null); do \
	  $$c -c 'import sys; sys.exit(sys.version_info[:2] not in ((3, 12), (3, 13)))' 2>/dev/null && { echo $$c; break; }; \
	done)
ifeq ($(strip $(PYTHON)),)
$(error No Python 3.12 or 3.13 found (tried python3.12, python3.13, python3 and pyenv's versions). Install one, \
  or name it: make PYTHON=/path/to/python3.12 ...)
endif
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
REQUIREMENTS ?= requirements.txt

# Chapters run with chapters/ as their working directory: pass the data directory on as an absolute path.
ifdef SHAP_BOOK_DATA
export SHAP_BOOK_DATA := $(abspath $(SHAP_BOOK_DATA))
endif

.PHONY: book test lab env clean upstream-test versions

env: $(STAMP)

# --clear: an environment left by another Python (or an older requirements file) is rebuilt from scratch.
$(STAMP): $(REQUIREMENTS) pyproject.toml
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r $(REQUIREMENTS) -e .
	touch $(STAMP)

# The chapters are executed JOBS at a time (_ext/execute_chapters.py; two kernels need about 8 GiB of free
# memory, JOBS=1 about 4 GiB), then Jupyter Book builds the pages from their outputs.
JOBS ?= 2
book: $(STAMP)
	$(BIN)/python -m helpers check
	$(BIN)/python _ext/execute_chapters.py --jobs $(JOBS) --out _build/executed
	$(BIN)/jupyter-book build --all --warningiserror --nitpick --keep-going --config _build/executed/_config.yml .

# Two pytest workers (pytest-xdist): one executes the chapters and builds the book from them (one group, in
# order: conftest.py), the other runs the unit tests meanwhile. TEST_JOBS=0 runs everything in one process.
TEST_JOBS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest $(if $(filter-out 0,$(TEST_JOBS)),-n $(TEST_JOBS))

# JupyterLab on the chapters, configured by lab/jupyter_lab_config.py: on 127.0.0.1 (the address, with its token,
# is printed when the server is up), every chapters/*.md opening as a notebook through jupytext (saving writes
# its .ipynb pair too), the kernel from .venv, SHAP_BOOK_PROFILE and SHAP_BOOK_DATA passed on to it. The check
# first says what the chapters will use; a failing check is reported, but JupyterLab starts all the same (the
# chapters that need nothing missing still run). Ctrl-C stops the server. LAB_ARGS adds options to
# `jupyter lab`, e.g. make lab LAB_ARGS="--port=8890 --no-browser".
# JUPYTER_PREFER_ENV_PATH=1: the environment's python3 kernelspec wins over one in the user's own Jupyter
# directories (Jupyter's default in a virtual environment the user owns, made explicit).
LAB_ARGS ?=
lab: $(STAMP)
	-$(BIN)/python -m helpers check
	@echo "make lab: starting JupyterLab on chapters/; open the http://127.0.0.1:... address it prints below"
	JUPYTER_PREFER_ENV_PATH=1 $(BIN)/jupyter lab --config=lab/jupyter_lab_config.py $(LAB_ARGS)

clean:
	rm -rf _build chapters/artifacts

# The weekly upstream check (.github/workflows/book.yml): the same tests against the newest release of every
# requirement within the major version the book supports (pkg==X.Y.Z becomes pkg>=X.Y.Z,<X+1), in a separate
# environment, so that a breaking minor release of TensorFlow, Keras or shap fails there. A new major version
# (Jupyter Book 2 is another tool: myst.yml instead of _config.yml and _toc.yml) is a move to plan, not a test.
requirements-upstream.txt: requirements.txt
	awk -F'==' '/^[A-Za-z0-9_.-]+==/ {v = $$2; sub(/[ \t#].*/, "", v); split(v, p, "."); print $$1 ">=" v ",<" p[1] + 1; next} {print}' requirements.txt > $@

upstream-test: requirements-upstream.txt
	$(MAKE) versions test VENV=.venv-upstream REQUIREMENTS=requirements-upstream.txt

versions: $(STAMP)
	@$(BIN)/python -c "from importlib.metadata import version as v; print(' '.join(f'{p}=={v(p)}' for p in \
	  ('tensorflow-cpu', 'keras', 'shap', 'numpy', 'matplotlib', 'jupyter-book', 'myst-nb', 'nbval')))"
