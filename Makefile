# The two commands of the README:
#   make run    set everything up and run the whole product on embedded defaults
#   make test   set everything up and run the whole test suite
#   make client rebuild the web app's committed assets (collab/webapp/static) from clients/web
# Everything lives in .venv; only Python 3.11+ is needed on the machine.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench client clean

run: $(VENV)/.installed
	$(BIN)/python -m collab.devstack

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(VENV)/.installed-test
	bench/rest

# Needs node 20 and npm; the built files are committed, so `make run` needs neither.
client:
	cd clients/web && npm ci --no-audit --no-fund && node build.mjs

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	touch $@

$(VENV)/.installed: $(VENV)/.created requirements.txt
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed tests/requirements.txt
	$(BIN)/python -m pip install --quiet -r tests/requirements.txt
	touch $@

clean:
	rm -rf $(VENV) instance .pytest_cache
