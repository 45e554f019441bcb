# Entry points of the collection's development workflow.
#   make demo   install everything, start a 3+2 lab, stand up the swarm, print it
#   make test   install everything, run every quality gate and test suite
# Only the lab targets (demo, integration, bench) need root and install system
# packages (deps); sanity, lint, units and build need neither: python3 with
# venv (or pip) and git.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# the oldest ansible-core the collection claims (meta/runtime.yml): units and
# sanity run on it too, from its own virtualenv
ANSIBLE_OLDEST := 2.17
VENV_OLDEST := build/venv-$(ANSIBLE_OLDEST)
MANAGERS ?= 3
WORKERS ?= 2
COLLECTION_TREE := build/ansible_collections/nativeswarm/cluster
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.ansible/collections
export ANSIBLE_FORCE_COLOR := 0
export PY_COLORS := 0

.PHONY: deps venv venv-oldest link demo demo-down test sanity lint units integration build clean

deps:  ## system packages for the lab (Debian/Ubuntu, root)
	@command -v dockerd >/dev/null && command -v debootstrap >/dev/null && command -v busybox >/dev/null \
	  && command -v iptables >/dev/null && python3 -c 'import ensurepip' 2>/dev/null && [ -e /usr/lib/python3/dist-packages/docker ] \
	  && [ -e /usr/lib/python3/dist-packages/paramiko ] \
	  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	       docker.io iptables iproute2 debootstrap busybox-static python3-venv python3-pip python3-docker python3-paramiko git make >/dev/null; }

# A virtualenv with pip in $(1), without root: python3's ensurepip where it has
# one (Debian: python3-venv), else the system's pip (Debian: python3-pip).
define make-venv
	@if python3 -c 'import ensurepip' 2>/dev/null; then python3 -m venv $(1); \
	elif python3 -m pip --version >/dev/null 2>&1; then \
	  python3 -m venv --without-pip $(1) && python3 -m pip --python $(1)/bin/python install -q pip; \
	else echo 'make: python3 can make no virtualenv with pip: install python3-venv (Debian/Ubuntu: apt-get install python3-venv, or make deps as root)' >&2; \
	  exit 1; fi
endef

$(VENV)/.installed: requirements.txt requirements-gates.txt
	$(call make-venv,$(VENV))
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV_OLDEST)/.installed: requirements-$(ANSIBLE_OLDEST).txt requirements-gates.txt
	$(call make-venv,$(VENV_OLDEST))
	$(VENV_OLDEST)/bin/pip install -q --upgrade pip
	$(VENV_OLDEST)/bin/pip install -q -r requirements-$(ANSIBLE_OLDEST).txt
	touch $@

venv: $(VENV)/.installed link

venv-oldest: $(VENV_OLDEST)/.installed link

link:  ## the working tree as ansible_collections/nativeswarm/cluster
	@mkdir -p .ansible/collections/ansible_collections/nativeswarm
	@ln -sfn ../../../.. .ansible/collections/ansible_collections/nativeswarm/cluster

# full hosts (systemd + dockerd), the swarm, then monitoring on it with
# Prometheus images built from Debian's packages (no registry needed)
demo: deps venv
	tests/lab/lab up --managers $(MANAGERS) --workers $(WORKERS) --kind host
	@mkdir -p build
	tests/lab/lab monitoring-images --engine-metrics 0.0.0.0:9323 --ansible-vars > build/demo-monitoring.json
	$(BIN)/ansible-playbook -i inventories/lab/hosts.yml playbooks/site.yml
	$(BIN)/ansible-playbook -i inventories/lab/hosts.yml playbooks/monitoring.yml -e @build/demo-monitoring.json \
	  -e grafana_admin_password=demo-admin-pw -e monitoring_report=true

demo-down:
	tests/lab/lab down

# sanity (CPU) runs beside the lab tests (mostly waiting for engines): the
# whole run takes about as long as the integration suite alone
test: deps venv venv-oldest lint units
	$(MAKE) --no-print-directory -j2 --output-sync=target sanity integration

sanity: venv venv-oldest  ## ansible-test sanity on the newest ansible-core and on the oldest claimed
	.ci/sanity $(VENV)
	.ci/sanity $(VENV_OLDEST)

lint: venv  ## ansible-lint runs ansible-* from PATH: the virtualenv's first
	$(BIN)/yamllint -s .
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/ansible-lint --profile production

units: venv venv-oldest  ## the unit tests on the newest ansible-core and on the oldest claimed
	$(BIN)/pytest -q tests/unit
	$(VENV_OLDEST)/bin/pytest -q tests/unit

# two test modules at a time (each has its own labs; most of a lab test's time
# is spent waiting for engines), the slowest tests listed at the end; then the
# lab's own tests alone (they check that `lab down` leaves the machine as it
# found it, which engines other tests start meanwhile would spoil)
INTEGRATION_WORKERS ?= 2
integration: deps venv
	$(BIN)/pytest -q -n $(INTEGRATION_WORKERS) --dist loadfile --durations=25 \
	  --ignore tests/integration/test_lab.py tests/integration
	$(BIN)/pytest -q tests/integration/test_lab.py

.PHONY: bench bench-smoke
bench: deps venv  ## benchmark against the docker CLI and community.docker (own lab; ~35 min with the 100-worker run and P4, `python -m bench --no-100` skips it): bench/results/latest.{json,png}
	$(PY) -m bench

bench-smoke: deps venv  ## P1 and P2 once (~1.5 min); also run by `make integration` (tests/integration/test_bench_smoke.py)
	$(PY) -m bench --smoke

build: venv
	$(BIN)/ansible-galaxy collection build --force --output-path build/

clean:
	rm -rf build .ansible tests/output
