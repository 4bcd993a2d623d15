#!/usr/bin/env bash
# Installs the pinned Renovate of tools/renovate, which
# test/integration/renovate.test.ts runs, when it is missing or its lock has
# changed since it was installed. It is a package of its own, not a
# devDependency: the functions' build runs npm ci with devDependencies (for
# gcp-build), and as one its ~530 packages would make that npm ci about 45 s
# slower and the deployed-package test two minutes slower (measured on 2
# cores: 25 s → 150 s). Optional packages are left out: re2
# needs a binary from GitHub or a native build, and Renovate falls back to
# JavaScript's RegExp without it (the preset's patterns read alike in both).
set -euo pipefail
cd "$(dirname "$0")/../tools/renovate"

stamp=node_modules/.installed-lock.json
if [[ -f node_modules/renovate/package.json ]] && cmp -s package-lock.json "$stamp"; then
  exit 0
fi
echo "ensure-renovate: npm ci in tools/renovate (the Renovate the tests run)" >&2
npm ci --omit=optional --no-audit --no-fund --loglevel=error
cp package-lock.json "$stamp"
