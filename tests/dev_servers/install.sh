#!/usr/bin/env bash
# Installs the pinned real dev servers for tests/dev_servers.rs into
# target/dev-servers/ (never globally): a Python venv with Flask, uvicorn and
# Django from PyPI, and nodemon, TypeScript (tsc --watch) and Vite from npm
# (Vite 8 needs Node 20.19+ or 22.12+). Idempotent and quick when the exact
# versions are already there. Set OTOREPAIR_SKIP_DEV_SERVERS=1 to skip.
set -euo pipefail
cd "$(dirname "$0")/../.."
PREFIX="$PWD/target/dev-servers"
VENV="$PREFIX/venv"
PIP_PKGS=(
  flask==3.1.3 werkzeug==3.1.9 click==8.5.1 jinja2==3.1.6 markupsafe==3.0.4
  itsdangerous==2.2.0 blinker==1.9.0
  uvicorn==0.54.0 h11==0.16.0
  django==5.2.19 asgiref==3.13.0 sqlparse==0.6.1
)
NPM_PKGS=(nodemon@3.1.14 typescript@7.0.2 vite@8.4.0)
STAMP="$PREFIX/installed.txt"
WANT="$(printf '%s\n' "${PIP_PKGS[@]}" "${NPM_PKGS[@]}")"

command -v python3 >/dev/null || { echo "dev-servers: python3 is required" >&2; exit 1; }
command -v npm >/dev/null || { echo "dev-servers: node and npm are required (Node 18+)" >&2; exit 1; }

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && [ -x "$VENV/bin/flask" ] \
  && [ -x "$PREFIX/node_modules/.bin/nodemon" ] && [ -x "$PREFIX/node_modules/.bin/tsc" ] \
  && [ -x "$PREFIX/node_modules/.bin/vite" ]; then
  echo "dev servers: already installed in $PREFIX"
  exit 0
fi

mkdir -p "$PREFIX"
rm -f "$STAMP"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV" || {
  echo "dev-servers: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2; exit 1; }
echo "dev servers: installing ${PIP_PKGS[*]} into $VENV"
if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -q --retries 1 --timeout 20 \
  "${PIP_PKGS[@]}" >&2; then
  echo "dev-servers: pip install failed: is PyPI reachable? (set OTOREPAIR_SKIP_DEV_SERVERS=1 to skip these tests)" >&2
  exit 2
fi
[ -f "$PREFIX/package.json" ] || echo '{"name":"otorepair-dev-servers","private":true}' >"$PREFIX/package.json"
echo "dev servers: installing ${NPM_PKGS[*]} into $PREFIX"
if ! npm install --prefix "$PREFIX" --no-audit --no-fund --loglevel=error --fetch-retries=1 \
  "${NPM_PKGS[@]}" >&2; then
  echo "dev-servers: npm install failed: is the npm registry reachable? (set OTOREPAIR_SKIP_DEV_SERVERS=1 to skip these tests)" >&2
  exit 2
fi
echo "$WANT" >"$STAMP"
echo "dev servers: installed in $PREFIX"
