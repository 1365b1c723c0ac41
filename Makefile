# Two commands do everything on a fresh machine (see README.md):
#   make book   executes every chapter and builds the book into _build/html
#   make test   runs the unit tests and executes every chapter with nbval (quick profile unless set)
# Both create or refresh the virtual environment .venv first.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Chapters run with chapters/ as their working directory: pass the data directory on as an absolute path.
ifdef SHAP_BOOK_DATA
export SHAP_BOOK_DATA := $(abspath $(SHAP_BOOK_DATA))
endif

.PHONY: book test env clean

env: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -e .
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/python -m helpers check
	$(BIN)/jupyter-book build --all --warningiserror --nitpick --keep-going .

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf _build chapters/artifacts
