# Entry points of the collection's development workflow (root needed for the lab).
#   make demo   install everything, start a 3+2 lab, stand up the swarm, print it
#   make test   install everything, run every quality gate and test suite
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
MANAGERS ?= 3
WORKERS ?= 2
COLLECTION_TREE := build/ansible_collections/nativeswarm/cluster
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.ansible/collections
export ANSIBLE_FORCE_COLOR := 0
export PY_COLORS := 0

.PHONY: deps venv link demo demo-down test sanity lint units integration build clean

deps:  ## system packages (Debian/Ubuntu)
	@command -v dockerd >/dev/null && command -v debootstrap >/dev/null && command -v busybox >/dev/null \
	  && command -v iptables >/dev/null && python3 -c 'import ensurepip' 2>/dev/null && [ -e /usr/lib/python3/dist-packages/docker ] \
	  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	       docker.io iptables iproute2 debootstrap busybox-static python3-venv python3-pip python3-docker git make >/dev/null; }

$(VENV)/.installed: requirements.txt
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	touch $@

venv: deps $(VENV)/.installed link

link:  ## the working tree as ansible_collections/nativeswarm/cluster
	@mkdir -p .ansible/collections/ansible_collections/nativeswarm
	@ln -sfn ../../../.. .ansible/collections/ansible_collections/nativeswarm/cluster

demo: venv
	tests/lab/lab up --managers $(MANAGERS) --workers $(WORKERS)
	$(BIN)/ansible-playbook -i inventories/lab/hosts.yml playbooks/site.yml

demo-down:
	tests/lab/lab down

test: venv sanity lint units integration

sanity: venv
	.ci/sanity

lint: venv
	$(BIN)/yamllint -s .
	$(BIN)/ansible-lint --profile production

units: venv
	$(BIN)/pytest -q tests/unit

integration: venv
	$(BIN)/pytest -q tests/integration

.PHONY: bench bench-smoke
bench: venv  ## benchmark against the docker CLI and community.docker (own lab; ~15 min): bench/results/latest.{json,png}
	$(PY) -m bench

bench-smoke: venv  ## P1 and P2 once (~1.5 min); also run by `make integration` (tests/integration/test_bench_smoke.py)
	$(PY) -m bench --smoke

build: venv
	$(BIN)/ansible-galaxy collection build --force --output-path build/

clean:
	rm -rf build .ansible tests/output
