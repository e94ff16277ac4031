#!/usr/bin/env bash
# Set up (if needed) and export every annotated kernel in examples/ to out/.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
# shellcheck disable=SC1091
. .venv/bin/activate

h2j-lsp --export examples --out-dir out "$@"
