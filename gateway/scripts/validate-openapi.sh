#!/usr/bin/env bash
# Validates an OpenAPI document (a JSON file) with openapi-spec-validator,
# installed once from PyPI into a virtualenv under the repository's .tools/.
#
#   gateway/scripts/validate-openapi.sh FILE
#
# Exit status: 0 valid, 1 invalid, 3 the validator cannot be installed
# (no python3/venv, or the package index unreachable): callers outside CI
# may skip with a notice.
set -euo pipefail

version=0.9.0
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="$root/.tools/venv-openapi"
[ $# -eq 1 ] || { echo "usage: $0 FILE" >&2; exit 2; }

mkdir -p "$root/.tools"
# Tests validate in parallel: one installer at a time.
exec 9>"$root/.tools/.venv-openapi.lock"
flock 9
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import openapi_spec_validator" 2>/dev/null; then
  rm -rf "$venv"
  if ! python3 -m venv "$venv" >/dev/null 2>&1 \
    || ! "$venv/bin/pip" install -q --disable-pip-version-check "openapi-spec-validator==$version" >&2; then
    rm -rf "$venv"
    echo "cannot install openapi-spec-validator $version" >&2
    exit 3
  fi
fi
flock -u 9

exec "$venv/bin/python" -m openapi_spec_validator "$1"
