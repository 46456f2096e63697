# okd-registry-toolkit: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
NODES ?= 3
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: deps demo test unit lab-up lab-down lab-status bench collection clean sanity-deps sanity lint

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

test: deps sanity-deps
	$(PY) -m pytest

unit: deps sanity-deps
	$(PY) -m pytest tests/unit

bench: lab-up
	$(PY) scripts/bench.py

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
