#!/usr/bin/env bash
# Render CHANGELOG.md with antsibull-changelog (`make changelog`).
#
# Released versions come from changelogs/changelog.yaml. While galaxy.yml's version is not released
# yet, its pending fragments (changelogs/fragments/*.yml) are rendered as that version marked
# "unreleased", by running `antsibull-changelog release` on a scratch copy: the repository's
# changelog.yaml and fragments are not touched. Cutting a real release is
# `antsibull-changelog release` in the repository itself (it moves the fragments into changelog.yaml).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$(pwd -P)"
PY="${VENV:-.venv}/bin/python"

antsibull-changelog lint
version="$("$PY" -c 'import yaml; print(yaml.safe_load(open("galaxy.yml"))["version"])')"
released="$("$PY" -c 'import sys, yaml; r = yaml.safe_load(open("changelogs/changelog.yaml")).get("releases") or {}; print("yes" if sys.argv[1] in r else "no")' "$version")"
if [ "$released" = "yes" ]; then
    antsibull-changelog generate
    exit 0
fi

scratch=".build/changelog/ansible_collections/ipoffice/security"
rm -rf "$scratch"
mkdir -p "$scratch"
cp -r galaxy.yml meta changelogs "$scratch/"
cp -r plugins "$scratch/plugins"
# antsibull-changelog copies the files git does not ignore; .build/ is ignored in this repository,
# so the scratch copy gets a git repository of its own.
git init -q "$scratch"
cat > "$scratch/changelogs/fragments/zz-unreleased.yml" <<SUMMARY
release_summary: Unreleased - rendered from the pending changelog fragments by \`make changelog\`.
SUMMARY
(cd "$scratch" && ANSIBLE_COLLECTIONS_PATH="$REPO/.build/changelog" antsibull-changelog release --version "$version" --date "$(date -u +%F)")
cp "$scratch/CHANGELOG.md" CHANGELOG.md
echo "changelog: rendered CHANGELOG.md (version $version, unreleased)"
