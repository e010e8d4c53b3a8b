# The two commands of the README: `make demo` and `make test`. Both create .venv on first use
# (Python 3.11+ and pip are all they need) and install the pinned set in constraints.txt.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test ui validate bench clean

$(STAMP): pyproject.toml setup.py constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[offline,deploy,test,bench]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m trace_assets.demo

test: $(STAMP)
	$(BIN)/pytest

ui: $(STAMP)
	export DAGSTER_HOME=$${DAGSTER_HOME:-$(CURDIR)/data/dagster_home}; \
	$(BIN)/python -m trace_assets.dagster_home "$$DAGSTER_HOME" && $(BIN)/dagster dev -w workspace.yaml

validate: $(STAMP)
	$(BIN)/dagster definitions validate -w workspace.yaml

clean:
	rm -rf data

# The benchmarks (minutes; they load the machine): see BENCHMARKS.md.
bench: $(STAMP)
	$(BIN)/python bench/extraction.py --rows 100000 1000000
	$(BIN)/python bench/judge_client.py
	$(BIN)/python bench/scoring_cost.py
	$(BIN)/python bench/iceberg.py --rows 1000000 --days 3
	$(BIN)/python bench/whole_day.py --traces 5000 --latency-ms 50 --ragas-processes 2
	$(BIN)/python bench/reward_quality.py --traces 50000
	$(BIN)/python bench/langfuse_sources.py --traces 1000000 --api-traces 20000 --requests-per-minute 60
	$(BIN)/python bench/redaction.py --rows 1000000 --repeat 3
	$(BIN)/python bench/erasure.py --days 30 --traces-per-day 100000
	$(BIN)/python bench/exports.py --traces-per-day 50000 --days 7 --sample 5000
	$(BIN)/python bench/step_memory.py --traces 1000000
	$(BIN)/python bench/scoring_memory.py --traces 1000000 --fresh-judge 20000 --fresh-ragas 1000
	$(BIN)/python bench/check_memory.py --traces 1000000 --old-traces 100000
