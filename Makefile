# order-saga: every command installs what it needs into .venv first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install chromium profile test lint typecheck unit integration bench synth policy demo dr-drill up token lambda-deps clean

install: $(STAMP)

# Reinstall whenever the declared or locked dependencies change.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --constraint constraints.txt --editable '.[dev]'
	touch $(STAMP)

# Debian's chromium for the report's browser test, installed once when missing (CI runs as root;
# without root this says what to run, and the test skips saying the same).
chromium:
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else echo "make: no chromium; as root: apt-get install chromium (the report's browser test skips)" >&2; fi; }

# Two pytest workers (2 cores); a file's tests stay on one worker. End-to-end files may run at
# the same time: each holds fixed ports of its own.
test: lint typecheck chromium
	$(BIN)/pytest -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/actionlint

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP) chromium
	$(BIN)/pytest tests/integration

# Every benchmark runs; the target fails at the end if one missed its target (cold start > 1.5x boto3).
bench: $(STAMP)
	@status=0; for benchmark in state_transitions cold_start policy_check sandbox_throughput; do \
		$(BIN)/python -m bench.$$benchmark || status=1; \
	done; exit $$status

# The program under Pulumi mocks: build/$(STACK).resources.json (make synth STACK=prod-use1).
STACK ?= sandbox
synth: $(STAMP)
	$(BIN)/python -m synth --stack $(STACK)

# Launch day in the sandbox: a 50x spike, a courier outage, and the audit (exit 1 if it fails).
demo: $(STAMP)
	$(BIN)/python -m demo $(DEMO_ARGS)

# Where the sandbox's time goes under the demo's load: every process (embedded AWS, Lambda
# workers, the driver) sampled by py-spy, raw stacks in build/ (speedscope opens them), a summary.
profile: $(STAMP)
	mkdir -p build
	$(BIN)/py-spy record --subprocesses --nonblocking --rate 10 --format raw -o build/profile-demo.txt -- $(BIN)/python -m demo $(DEMO_ARGS)
	$(BIN)/python -m bench.profile_summary build/profile-demo.txt | tee build/profile-demo-summary.txt

# The sandbox until Ctrl-C; `make token CUSTOMER=cust-1` prints a token from the running one.
up: $(STAMP)
	$(BIN)/python -m sandbox up $(SANDBOX_ARGS)

CUSTOMER ?= cust-1
token: $(STAMP)
	@$(BIN)/python -m sandbox token --customer $(CUSTOMER)

# The policy pack, offline, over every stack (exit 1 on a mandatory violation).
# POLICY_FORMAT=markdown for a pull request comment (.github/workflows/policy.yml).
POLICY_FORMAT ?= text
policy: $(STAMP)
	$(BIN)/python -m policies check --stack prod-use1 --stack prod-usw2 --stack sandbox --config policies/policy-config.json --format $(POLICY_FORMAT)

# msgspec and PyJWT for the functions' layer (Powertools comes from its public layer);
# run before a real `pulumi up`. Wheels for Lambda's arm64 Linux, Python 3.11.
lambda-deps: $(STAMP)
	rm -rf build/lambda-deps
	$(BIN)/pip install --quiet --target build/lambda-deps/python --platform manylinux2014_aarch64 \
		--implementation cp --python-version 3.11 --only-binary=:all: \
		--constraint constraints.txt msgspec 'pyjwt[crypto]'

clean:
	rm -rf $(VENV) build .hypothesis .mypy_cache .ruff_cache

# Lose the primary region mid-spike, fail over to the standby, bring the primary back; the audit
# spans both regions (exit 1 if an invariant fails). make dr-drill DRILL_ARGS="--seed 2 --json"
dr-drill: $(STAMP)
	$(BIN)/python -m demo.drill $(DRILL_ARGS)
