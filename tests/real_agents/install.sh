#!/usr/bin/env bash
# Installs the pinned real agent CLIs into target/real-agents/ (never globally).
# Idempotent: does nothing when the exact versions are already installed.
# Prints the bin directory on the last stdout line as `BIN <dir>`.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
PREFIX="$ROOT/target/real-agents"
BIN="$PREFIX/node_modules/.bin"

PKGS=(
  "@anthropic-ai/claude-code@2.1.197"
  "@openai/codex@0.169.0"
  "@google/gemini-cli@0.61.0"
)

# The env under which the CLIs must never phone home or self-update.
export DISABLE_TELEMETRY=1 DISABLE_AUTOUPDATER=1 DISABLE_ERROR_REPORTING=1
export CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1

installed_version() { # package name -> version or empty
  local pj="$PREFIX/node_modules/$1/package.json"
  [ -f "$pj" ] && node -e 'process.stdout.write(require(process.argv[1]).version)' "$pj" 2>/dev/null || true
}

all_present() {
  local spec name ver
  for spec in "${PKGS[@]}"; do
    name="${spec%@*}"; ver="${spec##*@}"
    [ "$(installed_version "$name")" = "$ver" ] || return 1
  done
  for b in claude codex gemini; do [ -x "$BIN/$b" ] || return 1; done
  return 0
}

command -v node >/dev/null || { echo "install.sh: node is required (Node 20+)" >&2; exit 1; }
command -v npm >/dev/null || { echo "install.sh: npm is required" >&2; exit 1; }

if all_present; then
  echo "real agents: already installed in $PREFIX"
else
  REGISTRY="$(npm config get registry 2>/dev/null || echo https://registry.npmjs.org/)"
  if ! timeout 20 npm view --fetch-retries=0 --fetch-timeout=10000 "${PKGS[0]}" version >/dev/null 2>&1; then
    echo "install.sh: cannot reach the npm registry ($REGISTRY): the real-agent tests need" >&2
    echo "install.sh: network access once to install ${PKGS[*]}" >&2
    echo "install.sh: (set OTOREPAIR_SKIP_REAL_AGENTS=1 to skip these tests)" >&2
    exit 2
  fi
  mkdir -p "$PREFIX"
  [ -f "$PREFIX/package.json" ] || echo '{"name":"otorepair-real-agents","private":true}' >"$PREFIX/package.json"
  echo "real agents: installing ${PKGS[*]} into $PREFIX"
  if ! npm install --prefix "$PREFIX" --no-audit --no-fund --loglevel=error "${PKGS[@]}" >&2; then
    echo "install.sh: npm install failed (is the npm registry $REGISTRY reachable?)" >&2
    exit 2
  fi
  all_present || { echo "install.sh: install finished but the pinned versions/binaries are missing" >&2; exit 1; }
fi

# Each binary must actually run, offline (claude 2.1.x is a native binary from an
# optional dependency; a missing platform package shows up here).
for b in claude codex gemini; do
  if ! v="$(HOME="$PREFIX/home" timeout 60 "$BIN/$b" --version 2>&1 </dev/null)"; then
    echo "install.sh: $BIN/$b --version failed:" >&2
    echo "$v" >&2
    exit 1
  fi
  echo "$b: $BIN/$b ($(echo "$v" | tail -n1))"
done
echo "BIN $BIN"
