#!/usr/bin/env bash
# Run the exporter's, interpreter's and worker's tests against another (torch, helion)
# pair, in a virtual environment of its own. Default: the pair of the GPU image the
# worker runs on remotely (torch 2.11.0, helion 1.5.0); .venv holds the newest pair.
#   scripts/test-pair.sh [TORCH HELION] [pytest arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH=${1:-2.11.0}
HELION=${2:-1.5.0}
shift $(( $# < 2 ? $# : 2 ))
VENV=".venv-torch$TORCH-helion$HELION"

PYTHON=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"
export PIP_DISABLE_PIP_VERSION_CHECK=1
installed() {
    python -c "from importlib.metadata import version as v; import sys; sys.exit(not v('torch').startswith('$TORCH') or v('helion') != '$HELION')" 2>/dev/null
}
# Only torch 2.13.0 has a CPU build at hand: other releases are the registry's, CUDA included.
installed || pip install --quiet "torch==$TORCH" "helion==$HELION"
pip install --quiet -e ".[dev]"
python -c "from importlib.metadata import version as v; print(f'test-pair: torch {v(\"torch\")}, helion {v(\"helion\")}, triton {v(\"triton\")}')"
python -m pytest -q -p no:cacheprovider helion2json/tests tests/test_version_gate.py \
    tests/test_worker.py tests/test_worker_isolation.py "$@"
