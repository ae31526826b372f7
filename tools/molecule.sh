#!/usr/bin/env bash
# `make molecule`: run `molecule test` for every scenario (each extensions/molecule/<name>/ with a
# molecule.yml), MOLECULE_WORKERS at a time (each scenario has its own stores, so they are independent).
# Each scenario's output goes to .build/molecule/<name>.log; a failing scenario's log is printed.
# Arguments narrow the run to the named scenarios: `make molecule SCENARIOS="scep security_info"`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$(pwd -P)"
WORKERS="${MOLECULE_WORKERS:-2}"
LOGS=".build/molecule"

if [ "$#" -gt 0 ]; then
    scenarios=("$@")
else
    mapfile -t scenarios < <(find extensions/molecule -mindepth 2 -name molecule.yml -printf '%h\n' \
                             | sed 's|^extensions/molecule/||' | sort)
fi
if [ "${#scenarios[@]}" -eq 0 ]; then
    echo "molecule: no scenarios under extensions/molecule (a scenario is a directory with molecule.yml)"
    exit 1
fi
mkdir -p "$LOGS"
rm -f "$LOGS"/*.log "$LOGS"/*.failed
echo "molecule: ${#scenarios[@]} scenarios, $WORKERS at a time: ${scenarios[*]}"

run_one() {
    local scenario="$1" log="$LOGS/${1//\//_}.log" start=$SECONDS
    # molecule's default ephemeral directory is ~/.ansible/tmp/molecule.<hash of the checkout's
    # *basename*>.<scenario>: two checkouts named alike would share stores. Give each checkout and
    # scenario its own, emptied before the run.
    local ephemeral="$REPO/$LOGS/ephemeral/${1//\//_}"
    rm -rf "$ephemeral"
    mkdir -p "$ephemeral"
    if MOLECULE_EPHEMERAL_DIRECTORY="$ephemeral" molecule test -s "$scenario" >"$log" 2>&1; then
        echo "molecule: PASS $scenario ($((SECONDS - start)) s)"
    else
        echo "molecule: FAIL $scenario ($((SECONDS - start)) s), log $log:"
        sed 's/\x1b\[[0-9;]*m//g' "$log" | tail -n 150
        touch "$LOGS/${1//\//_}.failed"
    fi
}
export -f run_one
export LOGS REPO
# shellcheck disable=SC2016  # $1 is expanded by the child bash, on purpose
printf '%s\n' "${scenarios[@]}" | xargs -P "$WORKERS" -I{} bash -c 'run_one "$1"' _ {}

shopt -s nullglob
failed=("$LOGS"/*.failed)
if [ "${#failed[@]}" -gt 0 ]; then
    echo "molecule: ${#failed[@]} of ${#scenarios[@]} scenarios failed: $(basename -a -s .failed "${failed[@]}" | tr '\n' ' ')"
    exit 1
fi
echo "molecule: all ${#scenarios[@]} scenarios passed"
