#!/usr/bin/env bash
# `make install`: build the collection artifact with `ansible-galaxy collection build` (galaxy.yml's
# build_ignore keeps .venv, .build, test output etc. out) and install it where your Ansible finds it:
#     make install                                   # -> ~/.ansible/collections (Ansible's default)
#     make install COLLECTIONS_PATH=/srv/ansible/collections
# With a path that is not on your collections_path, point Ansible at it: `collections_path` in the
# [defaults] section of ansible.cfg, or ANSIBLE_COLLECTIONS_PATH (docs/getting-started.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN="$(pwd -P)/${VENV:-.venv}/bin"
# An empty ANSIBLE_COLLECTIONS_PATH (the Makefile passes the user's own, maybe empty) means Ansible's default.
[ -n "${ANSIBLE_COLLECTIONS_PATH:-}" ] || unset ANSIBLE_COLLECTIONS_PATH
dest="${COLLECTIONS_PATH:-$HOME/.ansible/collections}"
dist=".build/dist"
rm -rf "$dist"
mkdir -p "$dist"
"$BIN/ansible-galaxy" collection build --force --output-path "$dist" . >&2
artifact="$(ls "$dist"/ipoffice-security-*.tar.gz)"
"$BIN/ansible-galaxy" collection install --force --collections-path "$dest" "$artifact" >&2
echo "install: $artifact -> $dest/ansible_collections/ipoffice/security" >&2
case ":${ANSIBLE_COLLECTIONS_PATH:-$HOME/.ansible/collections:/usr/share/ansible/collections}:" in
    *":$dest:"*) ;;
    *) echo "install: $dest is not on the default collections path: set collections_path = $dest in ansible.cfg" \
            "([defaults]) or export ANSIBLE_COLLECTIONS_PATH=$dest" >&2 ;;
esac
echo "$artifact"
