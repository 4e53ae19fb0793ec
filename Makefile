# The README's two commands. Both set up .venv themselves on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned: the local CPU wheel (an open range could pull a multi-GB CUDA build)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test,serve,cluster]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/rpncodec demo --out demo-out
	$(BIN)/rpncodec demo --mode spatial --out demo-out/spatial

test: $(STAMP)
	$(BIN)/ruff check rpncodec tests bench
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) demo-out
