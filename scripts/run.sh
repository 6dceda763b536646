#!/usr/bin/env bash
# Starts Bazaar's binaries on the embedded default. The services are added here
# as they land; until then there is nothing to start.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "Bazaar: no service binaries exist yet; the contracts and runtime are built by 'make build'."
