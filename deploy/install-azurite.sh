#!/usr/bin/env bash
# Installs azurite 3.37.0 (the Azure Storage emulator, from npm) into deploy/azurite, which git ignores.
# The checkpoint-store and grain-state tests start deploy/azurite/node_modules/.bin/azurite-blob (and azurite-table)
# themselves on free 127.0.0.1 ports (or the ones under $AZURITE_DIR when that is set). Needs node + npm (Debian: apt-get install -y nodejs npm).
# ≈80 s and ≈365 MB; does nothing when already installed.
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)/azurite"
if [ -x "$dir/node_modules/.bin/azurite-blob" ] && [ -x "$dir/node_modules/.bin/azurite-table" ]; then
  echo "azurite already installed in $dir"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "npm is missing: install node and npm first (Debian: apt-get update && apt-get install -y nodejs npm)" >&2
  exit 1
fi
mkdir -p "$dir"
cd "$dir"
[ -f package.json ] || echo '{ "name": "qst-azurite", "private": true }' > package.json
npm install --no-audit --no-fund azurite@3.37.0
echo "azurite installed: $dir/node_modules/.bin/azurite-blob"
