#!/usr/bin/env bash
# `make compat`: what meta/runtime.yml's requires_ansible promises, tested on every ansible-core it claims
# besides the main .venv's (2.19): for each version, its own virtualenv (tools/venv.sh, cached under
# .build/venvs/ansible-core-<version>), then with that version's tools
#   1. ansible-test sanity (that version's ansible-test, tools/sanity.sh),
#   2. the unit tests (pytest of tests/unit with that ansible-core importable),
# The real playbook run per version is tests/integration/test_ansible_versions.py (make integration).
#     bash tools/compat.sh              # every version in tools/venvs/ansible-core-*.txt
#     bash tools/compat.sh 2.17         # one version
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ "$#" -gt 0 ]; then
    versions=("$@")
else
    versions=()
    for f in tools/venvs/ansible-core-*.txt; do
        v="${f#tools/venvs/ansible-core-}"; versions+=("${v%.txt}")
    done
fi
for version in "${versions[@]}"; do
    start=$SECONDS
    venv="$(bash tools/venv.sh "ansible-core-$version")"
    have="$("$venv/bin/python" -c 'from ansible.release import __version__; print(__version__)')"
    echo "compat: ansible-core $have ($venv)"
    VENV="$venv" bash tools/sanity.sh
    echo "compat: unit tests on ansible-core $have"
    rc=0
    "$venv/bin/python" -m pytest -q -p no:cacheprovider -n "${PYTEST_WORKERS:-2}" tests/unit || rc=$?
    if [ "$rc" -ne 0 ]; then
        [ "$rc" -eq 5 ] && echo "compat: pytest collected no tests: failing"
        exit 1
    fi
    echo "compat: ansible-core $have passed sanity and unit tests in $((SECONDS - start)) s"
done
