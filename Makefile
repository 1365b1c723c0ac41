# Two commands do everything on a fresh machine (see README.md):
#   make book   executes every chapter and builds the book into _build/html
#   make test   runs the unit tests and executes every chapter with nbval (quick profile unless set)
# Both create or refresh the virtual environment .venv first.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
REQUIREMENTS ?= requirements.txt

# Chapters run with chapters/ as their working directory: pass the data directory on as an absolute path.
ifdef SHAP_BOOK_DATA
export SHAP_BOOK_DATA := $(abspath $(SHAP_BOOK_DATA))
endif

.PHONY: book test env clean upstream-test versions

env: $(STAMP)

$(STAMP): $(REQUIREMENTS) pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r $(REQUIREMENTS) -e .
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/python -m helpers check
	$(BIN)/jupyter-book build --all --warningiserror --nitpick --keep-going .

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf _build chapters/artifacts

# The weekly upstream check (.github/workflows/book.yml): the same tests against the newest release of every
# requirement, in a separate environment, so that a breaking TensorFlow, Keras or shap release fails there.
requirements-upstream.txt: requirements.txt
	sed -E 's/^([A-Za-z0-9_.-]+)==[^ #]*/\1/' requirements.txt > $@

upstream-test: requirements-upstream.txt
	$(MAKE) versions test VENV=.venv-upstream REQUIREMENTS=requirements-upstream.txt

versions: $(STAMP)
	@$(BIN)/python -c "from importlib.metadata import version as v; print(' '.join(f'{p}=={v(p)}' for p in \
	  ('tensorflow-cpu', 'keras', 'shap', 'numpy', 'matplotlib', 'jupyter-book', 'myst-nb', 'nbval')))"
