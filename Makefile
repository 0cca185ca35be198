# The two commands of the README:
#   make demo          set up, start the stack, publish the sample feeds, print the table
#   make test          lint, type-check, unit and integration tests against real services
# and the fault suite (killed brokers, poison floods, outages: the slowest tests), which CI
# runs after `make test` (.ci/run):
#   make test-faults
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: demo test test-faults setup check-tools browser prometheus lint unit integration bench bench-peer report-screenshots down clean

$(BIN)/incidents: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required (found " + sys.version.split()[0] + ")")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $@

setup: check-tools $(BIN)/incidents

check-tools:
	@command -v java >/dev/null || { echo "error: java not found. Install a JDK >= 17: apt-get install openjdk-17-jdk-headless"; exit 1; }
	@command -v mvn  >/dev/null || { echo "error: mvn not found. Install Maven: apt-get install maven"; exit 1; }

# Debian's Chromium and poppler-utils: the report tests render the HTML report headless (and
# --out x.pdf prints it), and rasterise the PDF with pdftoppm. Installed once with apt-get
# when missing (as root, as on CI).
browser:
	@command -v chromium >/dev/null || { \
		echo "installing Debian's chromium (the report tests render HTML headless)..."; \
		apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; } || \
		{ echo "error: cannot install chromium; run: apt-get install chromium"; exit 1; }; }
	@command -v pdftoppm >/dev/null || { \
		echo "installing Debian's poppler-utils (the report tests rasterise its PDF)..."; \
		apt-get install -y -qq --no-install-recommends poppler-utils >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends poppler-utils >/dev/null; } || \
		{ echo "error: cannot install poppler-utils; run: apt-get install poppler-utils"; exit 1; }; }

# Debian's Prometheus and Alertmanager: tests/unit/infra/test_prometheus.py runs promtool on
# infra/prometheus/, tests/integration/streams/test_prometheus.py runs prometheus against a
# stack, and the Alertmanager test runs prometheus-alertmanager. Installed together with
# apt-get when one is missing (as root, as on CI); without them those tests skip, saying so.
PROMETHEUS_BINARIES = prometheus promtool prometheus-alertmanager
prometheus:
	@missing=""; for b in $(PROMETHEUS_BINARIES); do command -v $$b >/dev/null || missing="$$missing $$b"; done; \
	[ -z "$$missing" ] || { \
		echo "installing Debian's prometheus and prometheus-alertmanager (missing:$$missing)..."; \
		apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null; } || \
		{ echo "error: cannot install them; run: apt-get install prometheus prometheus-alertmanager"; exit 1; }; }

demo: setup
	$(BIN)/incidents demo

lint: $(BIN)/incidents
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache  # the layers of docs/design.md

unit: $(BIN)/incidents
	$(BIN)/pytest tests/unit -q

integration: setup
	$(BIN)/pytest tests/integration -m integration -q

# Parallel test workers (pytest-xdist): most integration tests wait on Kafka and the
# workers they start, not on a CPU. TEST_JOBS=0 runs the suite in one process.
TEST_JOBS ?= 4

test: setup browser prometheus lint
	$(BIN)/pytest -q -m "not faults" -n $(TEST_JOBS) --dist worksteal --durations=15

test-faults: setup
	$(BIN)/pytest -q -m faults

# Benchmarks with small defaults (a few minutes; not part of `make test`). Full runs and
# results: docs/benchmarks.md.
bench: setup
	$(BIN)/pip install --quiet -e ".[bench]"
	$(BIN)/python -m bench.parse --reports 5000 --repeat 3
	$(BIN)/python -m bench.semantics --reports 5000 --repeat 2 --sizes 1,16,256
	$(BIN)/python -m bench.e2e --reports 2000 --workers 1,2 --queries 10

# The Quix Streams peer of bench/e2e.py, installed without its pydantic<2.14 pin (it runs
# on the project's pydantic); bench/e2e.py skips the peer, saying so, when it is missing.
# quixstreams imports confluent_kafka.schema_registry at import time: the [schemaregistry]
# extra brings what that needs (cachetools, authlib, attrs).
bench-peer: setup
	$(BIN)/pip install --quiet "confluent-kafka[schemaregistry]>=2.8.2,<2.13" "orjson>=3.9,<4" \
		"jsonschema>=4.3" "jsonlines>=4,<5" "jsonpath-ng>=1.7,<2" "httpx>=0.28.1"
	$(BIN)/pip install --quiet --no-deps "quixstreams==3.28.1"
	$(BIN)/python -c "import quixstreams" || { echo "error: quixstreams does not import; see above"; exit 1; }

# The pictures of docs/analysts.md: the Q1 2024 report's first two pages and its map, from
# the demo's warehouse (run `make demo` first).
report-screenshots: setup browser
	$(BIN)/incidents report --quarter 2024Q1 --screenshots docs/img

down: $(BIN)/incidents
	$(BIN)/incidents down

clean: down
	rm -rf var
