# okd-registry-toolkit: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
NODES ?= 3
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: deps demo test test-serial unit lab-up lab-down lab-status bench collection clean sanity-deps sanity lint

$(VENV)/.installed: requirements.txt
	./scripts/install-system-deps.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	mkdir -p .collections/ansible_collections/okd
	ln -sfn ../../.. .collections/ansible_collections/okd/registry_toolkit
	touch $@

# ansible-core 2.16: the last that manages Python 2.7/3.6 nodes; the compatibility tests run with it
.venv-216/.installed: requirements-ansible216.txt
	test -x .venv-216/bin/python || $(PYTHON) -m venv .venv-216
	.venv-216/bin/python -m pip install -q -r requirements-ansible216.txt
	touch $@

deps: $(VENV)/.installed .venv-216/.installed

lab-up: deps
	$(PY) -m lab up --nodes $(NODES)

lab-down:
	@if [ -x $(PY) ]; then $(PY) -m lab down; fi

lab-status: deps
	$(PY) -m lab status

demo: lab-up
	$(PY) -m lab demo

# Two pytest sessions at once: the lab tests (-m lab, mostly waiting on hosts, registries and the API) and
# everything else (unit, sanity, lint: CPU). The second's output is kept in build/test-nolab.log and printed
# after the lab session; the target fails if either failed. `make test-serial` runs one session.
test: deps sanity-deps
	@mkdir -p build; \
	$(PY) -m pytest -m "not lab" >build/test-nolab.log 2>&1 & nolab=$$!; \
	$(PY) -m pytest -m lab --durations=40; lab=$$?; \
	wait $$nolab; other=$$?; \
	echo "== tests without the lab (build/test-nolab.log), exit $$other"; cat build/test-nolab.log; \
	echo "== lab tests exit $$lab, tests without the lab exit $$other"; \
	test $$lab -eq 0 -a $$other -eq 0

test-serial: deps sanity-deps
	$(PY) -m pytest

unit: deps sanity-deps
	$(PY) -m pytest tests/unit

# make bench [NODES=n | HOSTS=n] [BENCH_ARGS=...]: the lab re-ups with n nodes besides master1 (HOSTS=n:
# n hosts in all), scripts/bench.py runs, then the lab returns to the size it had (docs/benchmarks.md)
BENCH_NODES = $(if $(HOSTS),$(shell echo $$(($(HOSTS) - 1))),$(NODES))
bench: deps
	@before=$$($(PY) -m lab status --json 2>/dev/null | $(PY) -c 'import json,sys; print(len(json.load(sys.stdin)["hosts"]) - 1)' 2>/dev/null || echo 3); \
	$(PY) -m lab up --nodes $(BENCH_NODES) && $(PY) scripts/bench.py $(BENCH_ARGS); rc=$$?; \
	if [ "$$before" != "$(BENCH_NODES)" ]; then $(PY) -m lab up --nodes $$before; fi; exit $$rc

collection: deps
	$(VENV)/bin/ansible-galaxy collection build --force --output-path build/

# ansible-test sanity, offline, with ansible-core 2.19 and 2.16 (docs/installing.md "Sanity and lint");
# make test runs it too (tests/unit/test_sanity.py); tests/sanity/ignore-*.txt says what is ignored and why
.venv-sanity/.installed: requirements.txt tests/sanity/setup-venv.sh tests/sanity/get_pip_offline.py
	tests/sanity/setup-venv.sh .venv-sanity "$$(grep '^ansible-core==' requirements.txt)" $(PYTHON)
	touch $@

.venv-sanity-216/.installed: requirements-ansible216.txt tests/sanity/setup-venv.sh tests/sanity/get_pip_offline.py
	tests/sanity/setup-venv.sh .venv-sanity-216 "$$(grep '^ansible-core==' requirements-ansible216.txt)" $(PYTHON)
	touch $@

sanity-deps: .venv-sanity/.installed .venv-sanity-216/.installed

lint: deps
	$(VENV)/bin/ansible-lint

# every check runs, then the target fails if one did
sanity: deps sanity-deps
	@rc=0; \
	tests/sanity/run.sh .venv-sanity || rc=1; \
	tests/sanity/run.sh .venv-sanity-216 || rc=1; \
	$(VENV)/bin/ansible-lint || rc=1; \
	exit $$rc

clean: lab-down
	rm -rf $(VENV) .collections build .venv-sanity .venv-sanity-216
