#!/usr/bin/env bash
# ansible-test sanity on the collection as it ships (the files of its built tarball, plus tests/sanity),
# offline: ansible-test runs in a prepared venv that already holds its sanity requirements (make
# sanity-deps installs them from ansible-test's own pinned files), so it needs neither --venv nor
# --requirements and never downloads get-pip. See docs/installing.md, "Sanity and lint".
#
#   tests/sanity/run.sh [VENV] [ansible-test sanity options...]
#   tests/sanity/run.sh .venv-sanity-216 --test pylint
#
# Target interpreters for compile and import (2.7 and 3.6: RHEL/CentOS 7 nodes) come from pyenv when it
# has them; ansible-test skips a version whose interpreter is missing and says so.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV=${1:-$ROOT/.venv-sanity}
shift || true
case "$VENV" in /*) ;; *) VENV=$ROOT/$VENV ;; esac
TESTS=(validate-modules pylint pep8 compile import yamllint shebang ansible-doc runtime-metadata)

WORK=$(mktemp -d /tmp/okd-sanity.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
DEST=$WORK/ansible_collections/okd/registry_toolkit
mkdir -p "$DEST" "$WORK/dist"
(cd "$ROOT" && "$VENV/bin/ansible-galaxy" collection build --force --output-path "$WORK/dist" >/dev/null)
tar -xzf "$WORK"/dist/*.tar.gz -C "$DEST"
rm -f "$DEST/MANIFEST.json" "$DEST/FILES.json"
cp "$ROOT/galaxy.yml" "$DEST/"
mkdir -p "$DEST/tests/sanity"
cp "$ROOT"/tests/sanity/ignore-*.txt "$DEST/tests/sanity/" 2>/dev/null || true

# pyenv's shims answer for every version but fail for those not selected: use real interpreters only
CLEAN_PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -v '/\.pyenv/shims$' | paste -sd: -)
for v in 2.7 3.6; do
    for d in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin; do
        if [ -x "$d/python$v" ]; then CLEAN_PATH="$CLEAN_PATH:$d"; fi
    done
done
export PATH="$VENV/bin:$CLEAN_PATH"
# the checkout's ansible.cfg (exported by the Makefile) names the lab and a symlinked collection: not here
unset ANSIBLE_CONFIG ANSIBLE_COLLECTIONS_PATH ANSIBLE_COLLECTIONS_PATHS
SELECT=()
case " $* " in
    *" --test "*) ;;  # the caller chose the tests
    *) for t in "${TESTS[@]}"; do SELECT+=(--test "$t"); done ;;
esac
cd "$DEST"
# without --python, multi-version tests (compile, import) run for every supported interpreter found
exec ansible-test sanity --color no "${SELECT[@]}" "$@"
