#!/usr/bin/env bash
# Build (or reuse) an extra virtualenv .build/venvs/<name> from tools/venvs/<name>.txt; print its path.
#
# The extra virtualenvs test what the collection promises beyond the main .venv: each ansible-core
# version meta/runtime.yml claims (ansible-core-2.17, ansible-core-2.18) and the cryptography floor
# (cryptography-floor; cryptography-44 is the release below it, which the modules must refuse).
# A virtualenv is rebuilt only when its requirement file or the Python version changes (a sha256
# stamp, as tools/setup.sh does); concurrent callers wait for each other (flock).
#     bash tools/venv.sh ansible-core-2.17      # -> /path/to/.build/venvs/ansible-core-2.17
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
name="${1:?usage: tools/venv.sh NAME (a file tools/venvs/NAME.txt)}"
reqs="tools/venvs/$name.txt"
[ -f "$reqs" ] || { echo "venv: no $reqs" >&2; exit 2; }
PYTHON="${PYTHON:-python3}"
dest="$(pwd -P)/.build/venvs/$name"
mkdir -p .build/venvs
exec 8>".build/venvs/$name.lock"
flock 8

key="$( { "$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])'; cat "$reqs"; } | sha256sum | cut -d' ' -f1)"
stamp="$dest/.ipoffice-venv.sha256"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ]; then
    echo "$dest"
    exit 0
fi
echo "venv: building $dest from $reqs" >&2
rm -rf "$dest"
"$PYTHON" -m venv "$dest"
"$dest/bin/python" -m pip --disable-pip-version-check install --quiet -r "$reqs" 2>&1 \
    | { grep -v -E "is ignored: it is neither a file nor a directory" || true; } >&2
"$dest/bin/python" -m pip --disable-pip-version-check check >&2
echo "$key" > "$stamp"
echo "$dest"
