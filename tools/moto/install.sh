#!/usr/bin/env bash
# Installs moto's server (an AWS API emulator: S3 and EC2 for the operator's cloud tests)
# from PyPI into a venv at ${FLOE_CACHE:-$HOME/.cache/floe}/moto; `moto_server` lands in its bin/.
# Idempotent: a stamp file records the pinned version; a second run with the same pin is a no-op.
# Parallel callers (test files) wait on a lock and then find it installed.
set -euo pipefail

MOTO_VERSION="${MOTO_VERSION:-5.2.5}"
CACHE="${FLOE_CACHE:-$HOME/.cache/floe}"
VENV="$CACHE/moto"
BIN="$VENV/bin/moto_server"
STAMP="$VENV/moto.stamp"

installed() { [[ -x "$BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "$MOTO_VERSION" ]]; }

if installed; then
  echo "moto $MOTO_VERSION already at $BIN"
  exit 0
fi

PYTHON="${PYTHON:-$(command -v python3 || true)}"
if [[ -z "$PYTHON" ]]; then
  echo "tools/moto/install.sh: python3 is required to install moto" >&2
  exit 1
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/moto.lock"
flock 9
if installed; then
  echo "moto $MOTO_VERSION already at $BIN"
  exit 0
fi
start=$(date +%s)
echo "installing moto[server]==$MOTO_VERSION with $("$PYTHON" --version) into $VENV..."
# A fresh venv each time the pin moves, so no stale packages survive an upgrade.
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input "moto[server]==$MOTO_VERSION"
"$BIN" --help >/dev/null
echo "$MOTO_VERSION" >"$STAMP"
echo "installed $BIN in $(($(date +%s) - start))s"
