# bpftables: `make demo` and `make test` set up what they need (scripts/setup.sh, idempotent).
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test test-unit lint bench clean

setup:
	bash scripts/setup.sh

demo: setup
	bash scripts/demo.sh

test: setup
	$(PY) -m ruff check iptparse translator bpf shim tests bench
	$(PY) -m pytest -q -p no:cacheprovider tests

test-unit: setup
	$(PY) -m pytest -q -m unit tests

lint: setup
	$(PY) -m ruff check iptparse translator bpf shim tests bench

# BENCH_QUICK=1: the short side-by-side run (under 10 minutes), without the single benches
bench: setup
	bash scripts/setup_bench.sh
ifeq ($(BENCH_QUICK),1)
	$(PY) -m bench.side_by_side --quick
else
	$(PY) -m bench.parse_speed
	$(PY) -m bench.plan_speed
	$(PY) -m bench.datapath_speed
	$(PY) -m bench.sync_speed
	$(PY) -m bench.side_by_side
endif

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
