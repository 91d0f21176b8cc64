# The two commands of the quick start are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint test-only test-reliability format clean bench

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,demo]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/revsync demo

lint: $(STAMP)
	$(BIN)/ruff check worker webhooks beat_schedule.py tests bench
	$(BIN)/ruff format --check worker webhooks beat_schedule.py tests bench
	$(BIN)/mypy worker webhooks beat_schedule.py

test-only: $(STAMP)
	$(BIN)/pytest

test: lint test-only

# The fault-injection scenarios alone (`make test` runs them with everything else).
test-reliability: $(STAMP)
	$(BIN)/pytest tests/reliability

format: $(STAMP)
	$(BIN)/ruff format worker webhooks beat_schedule.py tests bench
	$(BIN)/ruff check --fix worker webhooks beat_schedule.py tests bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache revsync.egg-info

# Each benchmark prints its figures next to a baseline measured in the same run.
# REDIS_URL names a Redis database the benchmarks may empty (default db 14 on 6379).
bench: $(STAMP)
	$(BIN)/python -m bench.rpc_budget $(REDIS_URL)
	$(BIN)/python -m bench.ingest --profile 1000
	$(BIN)/python -m bench.pipeline
	$(BIN)/python -m bench.reconcile --profile
