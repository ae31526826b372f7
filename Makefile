# ipoffice.security: two commands do everything from a fresh clone with only python3 installed.
#   make demo   set up, initialise three local demo systems and print their identities
#   make test   set up, then ruff, unit, integration, molecule, ansible-test sanity, ansible-lint
# `make help` lists every target.

PYTHON ?= python3
VENV = .venv
BIN = $(CURDIR)/$(VENV)/bin
PYTEST_WORKERS ?= 2
MOLECULE_WORKERS ?= 2
COLLECTIONS = $(CURDIR)/.build/collections

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.NOTPARALLEL:
.DEFAULT_GOAL := help

# The user's own collections path (before the export below replaces it), for `make install`.
USER_COLLECTIONS_PATH := $(ANSIBLE_COLLECTIONS_PATH)

# Every tool runs from the virtualenv (molecule calls ansible-config through PATH) and finds the
# collection through .build/collections (tools/setup.sh links the repository there).
export PATH := $(BIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH := false
export ANSIBLE_NOCOLOR := 1
export NO_COLOR := 1
export PY_COLORS := 0

# pytest, failing when nothing was collected (exit 5): an empty run must never look like a pass.
define pytest
	@echo "pytest $(1)"; \
	rc=0; $(BIN)/python -m pytest $(1) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make: pytest collected no tests in $(lastword $(1)): failing"; exit 1; fi; \
	exit $$rc
endef

.PHONY: help setup lint unit integration molecule sanity compat ansible-lint test demo install docs changelog clean distclean

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

setup: ## Bootstrap: .venv, pinned Python packages, Debian packages, collection link (fast when up to date)
	@PYTHON="$(PYTHON)" VENV="$(VENV)" bash tools/setup.sh

lint: setup ## ruff, the changelog fragments (antsibull-changelog lint), the plugin docs (antsibull-docs)
	ruff check .
	antsibull-changelog lint
	bash tools/lint_docs.sh

unit: setup ## Unit tests of the core (tests/unit)
	$(call pytest,--durations=5 tests/unit)

integration: setup ## Integration tests through real ansible-playbook runs and local servers (tests/integration)
	$(call pytest,--durations=10 -n $(PYTEST_WORKERS) tests/integration)

molecule: setup ## Every molecule scenario (extensions/molecule/*/molecule.yml); SCENARIOS="a b" to narrow
	MOLECULE_WORKERS=$(MOLECULE_WORKERS) bash tools/molecule.sh $(SCENARIOS)

sanity: setup ## ansible-test sanity on a mirror of the collection (.build/ansible-test); SANITY_ARGS=... to narrow
	VENV="$(VENV)" bash tools/sanity.sh $(SANITY_ARGS)

ansible-lint: setup ## ansible-lint, production profile (.ansible-lint)
	ansible-lint --offline

compat: setup ## Sanity and unit tests on every other ansible-core requires_ansible claims (.build/venvs/); VERSIONS="2.17" to narrow
	PYTEST_WORKERS=$(PYTEST_WORKERS) bash tools/compat.sh $(VERSIONS)

test: setup lint unit integration molecule sanity compat ansible-lint ## Everything CI runs, in order, stopping at the first failure
	@echo "make test: all steps passed"

# Ansible's own temporary files stay in the checkout too: `make demo` writes nothing into $HOME.
demo: setup ## Three local demo systems under .demo/: their identities, then the baseline and the audit
	ANSIBLE_HOME=$(CURDIR)/.build/ansible-home ANSIBLE_REMOTE_TEMP=$(CURDIR)/.build/ansible-home/tmp \
		ansible-playbook -i playbooks/inventory/demo.yml playbooks/demo.yml

install: setup ## Build the collection artifact and install it for your Ansible (~/.ansible/collections, or COLLECTIONS_PATH=...)
	@ANSIBLE_COLLECTIONS_PATH="$(USER_COLLECTIONS_PATH)" bash tools/install.sh >/dev/null

docs: setup ## Regenerate the module reference docs/modules/, the baseline role's spec, docs/errors.md and docs/findings.md
	$(BIN)/python tools/gen_module_docs.py
	$(BIN)/python tools/gen_role_specs.py
	$(BIN)/python tools/gen_errors_doc.py
	$(BIN)/python tools/gen_findings_doc.py

changelog: setup ## Render CHANGELOG.md from changelogs/ (pending fragments shown as the unreleased version)
	bash tools/changelog.sh

clean: ## Remove build and test output (keeps .venv)
	rm -rf .build .demo .cache .pytest_cache .ruff_cache tests/output
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean ## Also remove the virtualenv
	rm -rf $(VENV)
