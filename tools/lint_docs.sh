#!/usr/bin/env bash
# `make lint`, documentation part: antsibull-docs lint-collection-docs --plugin-docs, the check the Ansible
# documentation build applies (every plugin's DOCUMENTATION/EXAMPLES/RETURN, markup, doc fragments,
# links between plugins). antsibull-docs needs the collection at .../ansible_collections/ipoffice/security:
# it runs in the link tools/setup.sh makes, with the virtualenv's ansible on PATH.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$(pwd -P)"
BIN="$REPO/${VENV:-.venv}/bin"
export PATH="$BIN:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$REPO/.build/collections"
cd "$ANSIBLE_COLLECTIONS_PATH/ansible_collections/ipoffice/security"
echo "antsibull-docs lint-collection-docs --plugin-docs"
"$BIN/antsibull-docs" lint-collection-docs --plugin-docs .
