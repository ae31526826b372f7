#!/usr/bin/env bash
# `make sanity`: ansible-test sanity on a mirror of the collection (tools/ansible_test_tree.py builds
# it at .build/ansible-test/ansible_collections/ipoffice/security), with the virtualenv's Python.
# Extra arguments go to ansible-test, e.g. `make sanity SANITY_ARGS="--test validate-modules"`.
# VENV names the virtualenv whose ansible-test runs (default .venv; tools/compat.sh passes the
# per-version ones under .build/venvs/).
# One run at a time per checkout: a second one waits (both would rewrite the same mirror).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${VENV:-.venv}"
case "$VENV" in /*) ;; *) VENV="$(pwd -P)/$VENV" ;; esac
BIN="$VENV/bin"

mkdir -p .build
exec 9>.build/ansible-test.lock
if ! flock -n 9; then
    echo "sanity: another ansible-test run uses .build/ansible-test; waiting for it"
    flock 9
fi
# ansible-test bootstraps pip in its sanity virtualenvs with a get-pip script from a host this machine
# cannot reach; the stand-in (tools/get_pip_standin.py) is written to ansible-test's cache in the
# home directory here, for sanity runs only.
"$BIN/python" tools/get_pip_standin.py
tree="$("$BIN/python" tools/ansible_test_tree.py)"
pyver="$("$BIN/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
cd "$tree"
echo "sanity: ansible-test sanity --requirements --python $pyver $* (in $tree)"
# pip warns once per package about the machine's absent local package indexes: drop that noise only.
"$BIN/ansible-test" sanity --requirements --python "$pyver" --color no "$@" 2>&1 \
    | { grep -v -E "is ignored: it is neither a file nor a directory" || true; }
