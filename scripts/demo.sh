#!/usr/bin/env bash
# Set up (if needed) and export the bundled examples to out/.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
# shellcheck disable=SC1091
. .venv/bin/activate

mkdir -p out
python -m helion2json --entry examples/matmul.py:matmul \
    --arg "torch.randn(4, 8)" --arg "torch.randn(8, 4)" --out out/matmul.matmul.helion.json
echo "wrote out/matmul.matmul.helion.json"
