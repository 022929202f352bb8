# Nudge: `make run` to try it, `make test` to check it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export FLASK_APP := app.py
PORT ?= 5000

.PHONY: run test install migrate demo ci bench-% clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/flask db upgrade

demo: migrate
	$(BIN)/flask nudge seed-demo --if-empty

run: demo
	@echo ""
	@echo "  Nudge is starting on http://127.0.0.1:$(PORT)"
	@$(BIN)/flask nudge demo-login
	@echo ""
	NUDGE_PORT=$(PORT) PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start

# The browser tests need a Chromium: find or install one first, or stop saying what to install.
test: install
	@$(BIN)/python tests/browser/ensure_chromium.py
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

ci:
	bash .ci/run

bench-%: install
	$(BIN)/python -m bench.$*

clean:
	rm -rf $(VENV) instance .pytest_cache
