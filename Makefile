# Every target bootstraps .venv itself: on a fresh machine `make test` alone does all the set-up.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint quickstart bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# timm's own model tests run against medzoo's models from the sdist of the installed timm (its tests/ folder)
TIMM_CACHE := .ci/cache

test: $(STAMP)
	@mkdir -p $(TIMM_CACHE); v=$$($(BIN)/python -c 'import importlib.metadata as m; print(m.version("timm"))'); \
	  [ -f $(TIMM_CACHE)/timm-$$v.tar.gz ] || $(BIN)/pip download -q --no-binary :all: --no-deps "timm==$$v" -d $(TIMM_CACHE) \
	  || echo "warning: could not download timm's sdist: its model tests will be skipped"; \
	  MEDZOO_TIMM_SDIST=$$PWD/$(TIMM_CACHE)/timm-$$v.tar.gz $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

quickstart: $(STAMP)
	$(BIN)/medzoo quickstart

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build *.egg-info
