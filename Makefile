# Two entry points: `make book` and `make test`. Everything else is a step they depend on.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PROFILE ?= cpu
# sorted: the pages in book order (each computes the whole claims ledger from the records)
NOTEBOOKS := $(sort $(wildcard notebooks/*.py))
EXECUTED := $(patsubst notebooks/%.py,book/%.ipynb,$(NOTEBOOKS))

.PHONY: book test install data browser notebooks html clean
.DELETE_ON_ERROR:

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[book,test,ray,slurm]'
	touch $@

data: $(INSTALLED)
	$(BIN)/python -m kdlib fetch mnist fashion_mnist

# Execute every chapter with papermill into book/ (records in results/ are loaded; missing runs are trained).
notebooks: data
	@for nb in $(NOTEBOOKS); do \
	  name=$$(basename $$nb .py); \
	  echo "executing $$nb (profile $(PROFILE))"; \
	  $(BIN)/python -m kdlib page $$name --profile $(PROFILE) --published || exit 1; \
	done

# then every page as a reader sees it: no raw MyST or notebook source, no cut table cell, no shrunk figure
html: $(INSTALLED)
	$(BIN)/jupyter-book build . --warningiserror --nitpick --quiet
	$(BIN)/python -m kdlib.bookcheck _build/html

book: notebooks
	$(MAKE) html
	@echo "the book is in _build/html/index.html"

# Headless Chromium for the test that opens every page of the built book (Debian packages; needs root to install).
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -q && apt-get install -y -q --no-install-recommends chromium chromium-driver; \
	  else \
	    echo "the browser test needs headless Chromium: sudo apt-get install chromium chromium-driver"; exit 1; \
	  fi; \
	fi

test: data browser
	$(BIN)/python -m pytest

clean:
	rm -rf _build _pages book/*.ipynb book/all_runs.csv book/all_runs.json book/answers.md book/answers.svg book/claims_*.csv
