# The two commands: `make run` and `make test`. Everything else is a helper of those.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DATA   ?= var

.PHONY: run test install test-deps bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

test-deps: $(VENV)/.test-installed

run: install
	@test -f $(DATA)/postoffice.toml || $(BIN)/postoffice init --data $(DATA)
	exec $(BIN)/postoffice serve --data $(DATA)

test: test-deps
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: test-deps
	$(BIN)/python -m ruff check src tests bench

bench: test-deps
	$(BIN)/python bench/smtp_accept.py $(BENCH_ARGS)
	$(BIN)/python bench/imap_bench.py $(IMAP_BENCH_ARGS)
	$(BIN)/python bench/api_bench.py $(API_BENCH_ARGS)

clean:
	rm -rf $(VENV) build src/*.egg-info
