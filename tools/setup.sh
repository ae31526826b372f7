#!/usr/bin/env bash
# Bootstrap everything `make test` and `make demo` need, from a fresh clone with only python3:
#   1. the virtualenv .venv (recreated when the Python version changes),
#   2. the pinned Python packages: requirements-dev.txt + requirements-dev.in.d/*.txt,
#   3. the Debian packages: requirements-dev.in.d/*.apt (apt-get, as root only),
#   4. the collection linked at .build/collections/ansible_collections/ipoffice/security.
# Nothing is written outside the checkout (the get-pip stand-in ansible-test needs is written by
# tools/sanity.sh, for `make sanity` only).
# Each step is skipped when already up to date: the package step is keyed on the sha256 of the
# requirement files and the Python version, the Debian step on dpkg-query. FORCE=1 redoes steps 2 and 3.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$(pwd -P)"
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
FORCE="${FORCE:-}"
IN_D="requirements-dev.in.d"

say() { printf 'setup: %s\n' "$*"; }

# pip prints one warning per package for the machine's (absent) local extra indexes; keep the rest.
quiet_pip() {
    "$VENV/bin/python" -m pip --disable-pip-version-check "$@" 2>&1 \
        | { grep -v -E "is ignored: it is neither a file nor a directory|pip is currently an experimental" || true; }
}

# 1. virtualenv ----------------------------------------------------------------------------------
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    say "no '$PYTHON' found; run with PYTHON=/path/to/python3"; exit 1
fi
want_version="$("$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
have_version="$("$VENV/bin/python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null || true)"
if [ "$have_version" != "$want_version" ]; then
    if [ -n "$have_version" ]; then say "Python changed ($have_version -> $want_version): recreating $VENV"; fi
    rm -rf "$VENV"
    say "creating $VENV with $PYTHON ($want_version)"
    "$PYTHON" -m venv "$VENV"
fi

# 2. Python packages -----------------------------------------------------------------------------
shopt -s nullglob
req_files=(requirements-dev.txt "$IN_D"/*.txt)
apt_files=("$IN_D"/*.apt)
shopt -u nullglob

key="$( { echo "python $want_version"; for f in "${req_files[@]}"; do echo "== $f"; cat "$f"; done; } \
        | sha256sum | cut -d' ' -f1)"
stamp="$VENV/.ipoffice-pip.sha256"
if [ -z "$FORCE" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ]; then
    say "Python packages up to date"
else
    say "installing Python packages: ${req_files[*]}"
    rm -f "$stamp"
    pip_args=()
    for f in "${req_files[@]}"; do pip_args+=(-r "$f"); done
    quiet_pip install --quiet "${pip_args[@]}"
    quiet_pip check >/dev/null || { quiet_pip check; say "conflicting Python requirements"; exit 1; }
    echo "$key" > "$stamp"
fi

# 3. Debian packages -----------------------------------------------------------------------------
packages=()
for f in "${apt_files[@]}"; do
    while read -r line; do
        line="${line%%#*}"
        for word in $line; do packages+=("$word"); done
    done < "$f"
done
if [ "${#packages[@]}" -gt 0 ]; then
    if ! command -v dpkg-query >/dev/null 2>&1; then
        say "not a Debian system: install these yourself: ${packages[*]} (tests needing them skip locally, fail under CI=true)"
    else
        missing=()
        for p in $(printf '%s\n' "${packages[@]}" | sort -u); do
            status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
            [ "$status" = "install ok installed" ] || missing+=("$p")
        done
        if [ -z "$FORCE" ] && [ "${#missing[@]}" -eq 0 ]; then
            say "Debian packages up to date"
        elif [ "${#missing[@]}" -eq 0 ]; then
            say "Debian packages installed"
        elif [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
            say "NOT installing Debian packages (needs root and apt-get): ${missing[*]}"
            say "install them with: sudo apt-get install -y ${missing[*]}"
            say "until then the tests that need them skip (and fail under CI=true)"
        else
            say "installing Debian packages: ${missing[*]}"
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq
            apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        fi
    fi
fi

# 4. The collection where ansible finds it (tests/helpers.py makes the same link) ----------------
link=".build/collections/ansible_collections/ipoffice/security"
if [ "$(readlink "$link" 2>/dev/null || true)" != "$REPO" ]; then
    mkdir -p "$(dirname "$link")"
    rm -rf "$link"
    ln -s "$REPO" "$link"
    say "linked $link -> $REPO"
fi
