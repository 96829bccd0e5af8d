#!/usr/bin/env bash
# Creates benchmarks/.venv-litellm with LiteLLM's proxy, kept apart from tokenthrift's venv
# so neither project's dependencies shape the other's. Used by gateway_overhead.py.
#
# The version is pinned so runs are comparable over time. It is the newest whose `proxy`
# extra resolves from PyPI here: later releases pin `litellm-proxy-extras` versions (and
# 1.110.x a `litellm-proxy` distribution) that the index does not serve. Releases 1.82.7, 1.82.8 and 1.107.0 were compromised on PyPI (and are no
# longer served); never pin one of those.
set -euo pipefail

LITELLM_VERSION="${LITELLM_VERSION:-1.108.7}"
PYTHON="${PYTHON:-python3.11}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv-litellm"

if [[ -x "$VENV/bin/litellm" ]] && "$VENV/bin/pip" show litellm 2>/dev/null | grep -qx "Version: $LITELLM_VERSION"; then
    echo "litellm $LITELLM_VERSION already in $VENV"
    exit 0
fi

"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet "litellm[proxy]==$LITELLM_VERSION"
"$VENV/bin/pip" show litellm | grep -E '^(Name|Version)'
