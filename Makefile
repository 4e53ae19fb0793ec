# The README's two commands. Both set up .venv themselves on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test codec-only docs lint web clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned: the local CPU wheel (an open range could pull a multi-GB CUDA build)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[train,test,serve,cluster]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/rpncodec demo --out demo-out
	$(BIN)/rpncodec demo --mode spatial --out demo-out/spatial
	$(BIN)/rpncodec demo --mode spatial-quality --out demo-out/spatial-quality

test: $(STAMP)
	$(BIN)/ruff check rpncodec tests bench
	$(BIN)/python -m pytest -q

# The documentation site into site/, strict: a warning, a broken link or anchor fails it.
# Its pages' generated parts (CLI reference, model facts, results tables) are computed from
# the code, the weights and results/ at build time (scripts/docs_gen.py).
DOCS_STAMP := $(VENV)/.docs-installed
$(DOCS_STAMP): pyproject.toml | $(STAMP)
	$(BIN)/pip install --quiet -e '.[docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# The codec alone, as `pip install .` gives it: no torch. Encodes, decodes (every
# layer), reads info and truncates the bundled sample in a venv where `import torch` fails.
codec-only:
	rm -rf .venv-codec
	$(PY) -m venv .venv-codec
	.venv-codec/bin/pip install --quiet --upgrade pip
	.venv-codec/bin/pip install --quiet .
	cd /tmp && $(CURDIR)/.venv-codec/bin/python $(CURDIR)/scripts/codec_only_check.py

# The TypeScript decoder (web/): its locked npm tools, then a type check and the bundle
# web/dist/rpncodec.mjs. tests/test_web.py runs its Node tests against Python.
web/node_modules/.package-lock.json: web/package-lock.json
	npm ci --prefix web --no-audit --no-fund --silent

web: web/node_modules/.package-lock.json
	npm run --prefix web --silent build

clean:
	rm -rf $(VENV) .venv-codec demo-out site web/node_modules web/dist
