# marketbridge — two commands on a fresh machine:
#   make demo   the service + both sandboxes on the embedded default (SQLite), seeded and busy
#   make test   the test suite (SQLite tier; PostgreSQL tier too when MARKETBRIDGE_DATABASE_URL
#               points at PostgreSQL, as .ci/run does)
# Both create .venv and install what they need, from requirements.lock (every package pinned, with
# its SHA-256: pip refuses anything else). `make lock` regenerates the lock after a change to
# pyproject.toml; `make security` runs bandit and pip-audit against the lock; `make lint` runs ruff
# and mypy.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install lint lock security bench-quick clean

LOCK := requirements.lock

# The venv's own pip (bundled with Python) installs the lock: upgrading pip first would fetch an
# unpinned, unhashed pip. The build backend (hatchling, and editables which its editable builds
# need) is in the lock too, so the editable install of marketbridge itself builds without fetching
# anything (--no-build-isolation) and adds nothing (--no-deps).
$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "marketbridge needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	@$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# Regenerate the lock: every dependency of pyproject.toml (with the dev extra) and the build
# backend, resolved for every platform and Python >= 3.11 (--universal), with the hashes of every
# file of each pinned release. uv is the resolver; it is a tool for this target only, not in the
# lock. The index (and extra indexes / find-links) are pip's own configuration, so a machine whose
# pip points at a mirror resolves from the same place it installs from. --no-strip-extras keeps
# lines like cachecontrol[filecache]==0.14.4: without the extra, Python 3.11's pip does not hold
# pip-audit's CacheControl[filecache] request to the pin and refuses the lock once a newer release
# is published (tests/unit/test_lock_extras.py).
lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet 'uv>=0.9'
	@printf "hatchling\neditables\n" | $(BIN)/python -m uv pip compile pyproject.toml - --extra dev --universal \
		--python-version 3.11 --generate-hashes --no-strip-extras --index-strategy unsafe-best-match --quiet \
		$$(for u in $${PIP_INDEX_URL:-$$($(BIN)/python -m pip config get global.index-url 2>/dev/null)}; do echo --index-url $$u; done) \
		$$(for u in $${PIP_EXTRA_INDEX_URL:-$$($(BIN)/python -m pip config get global.extra-index-url 2>/dev/null)}; do echo --extra-index-url $$u; done) \
		$$(for u in $${PIP_FIND_LINKS:-$$($(BIN)/python -m pip config get global.find-links 2>/dev/null)}; do echo --find-links $$u; done) \
		-o $(LOCK)
	@echo "$(LOCK) regenerated: review the diff, then make install"

install: $(STAMP)

demo: $(STAMP)
	@$(BIN)/marketbridge demo

test: $(STAMP)
	@$(BIN)/python -m tests.tier
	@$(BIN)/python -m pytest $(PYTEST_ARGS)

# Both checks, both must pass; mypy's scope and strictness are in pyproject.toml ([tool.mypy]), so
# .ci/run (which calls this target) and .pre-commit-config.yaml (which calls these same commands)
# check exactly what this does.
lint: $(STAMP)
	@$(BIN)/ruff check src tests bench
	@$(BIN)/mypy

# pip-audit checks the locked set (what make install installs) without installing it again
# (--disable-pip: the lock is fully pinned and hashed). tools/audit_lock.py says what was really
# audited: where the advisory database cannot be reached it prints one "pip-audit SKIPPED" line and
# exits 0 with the lock NOT audited; AUDIT_REQUIRED=1 makes that (or a partial audit) a failure,
# for a CI that must audit. A known vulnerability always fails.
security: $(STAMP)
	@$(BIN)/bandit -q -r src -c pyproject.toml
	@$(BIN)/python tools/audit_lock.py $(LOCK)

clean:
	rm -rf $(VENV) .pytest_cache var marketbridge.sqlite marketbridge.engine.sqlite marketbridge.sqlite.run.lock
