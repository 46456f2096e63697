#!/usr/bin/env bash
# A venv for tests/sanity/run.sh: one ansible-core and the requirements of the sanity tests run.sh uses,
# taken from that ansible-test's own pinned files (so they always match it), plus the offline get-pip
# stand-in (tests/sanity/get_pip_offline.py) in ansible-test's cache for every pip version that
# ansible-test may bootstrap. Called by `make sanity-deps`.
#
#   tests/sanity/setup-venv.sh VENV ANSIBLE_CORE_REQUIREMENT [PYTHON]
#   tests/sanity/setup-venv.sh .venv-sanity-216 ansible-core==2.16.19
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV=$1
CORE=$2
PYTHON=${3:-python3}
test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q "$CORE"
REQ=$("$VENV/bin/python" -c 'import ansible_test, os; print(os.path.join(os.path.dirname(ansible_test.__file__), "_data", "requirements"))')
ARGS=()
for t in pylint pep8 yamllint validate-modules ansible-doc import runtime-metadata; do
    if [ -f "$REQ/sanity.$t.txt" ]; then ARGS+=(-r "$REQ/sanity.$t.txt"); fi
done
"$VENV/bin/python" -m pip install -q "${ARGS[@]}"
# the pip versions ansible-test bootstraps into its sanity venvs (python_requirements.get_venv_packages)
PRQ=$(dirname "$REQ")/../_internal/python_requirements.py
mkdir -p "$HOME/.ansible/test/cache"
for v in $(grep -o "pip='[0-9.]*'" "$PRQ" | grep -o "[0-9.]*[0-9]" | sort -u); do
    cp "$ROOT/tests/sanity/get_pip_offline.py" "$HOME/.ansible/test/cache/get_pip_${v//./_}.py"
done
