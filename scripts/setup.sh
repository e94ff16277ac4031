#!/usr/bin/env bash
# Create .venv and install the project with everything its tests use.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# The remote-host tests talk to a real OpenSSH server on 127.0.0.1.
if [ ! -x /usr/sbin/sshd ] && [ "${H2J_SKIP_SYSTEM_PACKAGES:-0}" != 1 ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null
    else
        echo "setup: openssh-server is missing; install it (sudo apt-get install openssh-server)" >&2
    fi
fi

# The MLIR lowering's tests run the lowered kernels with mlir-opt and mlir-runner (LLVM 22).
if [ ! -x /usr/lib/llvm-22/bin/mlir-runner ] && ! command -v mlir-runner >/dev/null \
    && [ "${H2J_SKIP_SYSTEM_PACKAGES:-0}" != 1 ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mlir-22-tools >/dev/null
    else
        echo "setup: mlir-22-tools is missing; install it (sudo apt-get install mlir-22-tools)" >&2
    fi
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
# The CPU build of torch; a bare `torch` requirement would pull a multi-GB CUDA build.
python -c "import torch" 2>/dev/null || pip install --quiet "torch==2.13.0"
pip install --quiet -e ".[dev]"
