# marketbridge — two commands on a fresh machine:
#   make demo   the service + both sandboxes on the embedded default (SQLite), seeded and busy
#   make test   the test suite (SQLite tier; PostgreSQL tier too when MARKETBRIDGE_DATABASE_URL
#               points at PostgreSQL, as .ci/run does)
# Both create .venv and install what they need.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install lint security bench-quick clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "marketbridge needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	@$(BIN)/marketbridge demo

test: $(STAMP)
	@$(BIN)/python -m tests.tier
	@$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	@$(BIN)/ruff check src tests bench

security: $(STAMP)
	@$(BIN)/bandit -q -r src -c pyproject.toml
	@$(BIN)/pip-audit --skip-editable --progress-spinner off

clean:
	rm -rf $(VENV) .pytest_cache var marketbridge.sqlite
