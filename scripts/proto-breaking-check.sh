#!/usr/bin/env bash
# `buf breaking` over the contracts in proto/ (buf.yaml: the FILE rules), in
# two steps:
#
# 1. The working tree against main's protos, read from the git repository:
#    the local branch main, else origin/main, else HEAD (with a notice; then
#    only uncommitted changes are compared). On main itself the comparison is
#    to itself. PROTO_BREAKING_AGAINST overrides the reference with any buf
#    input, e.g. '.git#tag=v1.0.0'.
# 2. A self-test that buf catches breaks: copies of proto/ and buf.yaml in a
#    temporary directory, one breaking change at a time, each of which buf
#    must report by name; then an additive change, which must pass. The real
#    tree is never modified.
#
#   scripts/proto-breaking-check.sh   # what `make proto-breaking` runs
#
# buf comes from scripts/tools.sh (`make tools`). Without it, or outside a
# git repository, the check fails under CI (`CI` set) and is skipped with a
# notice otherwise.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
buf="$root/.tools/buf"
cd "$root"

skip_or_fail() { # MESSAGE: a failure under CI, a skip elsewhere
    if [ -n "${CI:-}" ]; then
        echo "proto-breaking: FAIL: $1" >&2
        exit 1
    fi
    echo "proto-breaking: SKIP: $1 (a failure under CI)" >&2
    exit 0
}
[ -x "$buf" ] || skip_or_fail "$buf is missing: install it with: make tools"

# 1. Against main.
if [ -n "${PROTO_BREAKING_AGAINST:-}" ]; then
    against="$PROTO_BREAKING_AGAINST"
elif ! git rev-parse --git-dir >/dev/null 2>&1; then
    skip_or_fail "$root is not a git repository: no main to compare with"
elif git rev-parse --verify -q refs/heads/main >/dev/null; then
    against='.git#branch=main'
elif git rev-parse --verify -q refs/remotes/origin/main >/dev/null; then
    against='.git#ref=refs/remotes/origin/main'
    echo "proto-breaking: no local branch main; comparing with origin/main"
else
    against='.git#ref=HEAD'
    echo "proto-breaking: no branch main or origin/main; comparing with HEAD (uncommitted changes only)"
fi
echo "== buf breaking --against '$against'"
if ! "$buf" breaking --against "$against"; then
    echo "proto-breaking: FAIL: the protos break compatibility with $against (rules: buf.yaml's breaking section)" >&2
    exit 1
fi

# 2. The self-test.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/pristine"
cp -R proto buf.yaml "$work/pristine/"

# NAME FILE SED-SCRIPT EXPECTED: FILE (under proto/) edited with SED-SCRIPT
# in a fresh copy; buf breaking against the pristine copy must fail and
# print EXPECTED, or pass when EXPECTED is "compatible".
case_no=0 caught=0
expect() {
    local name=$1 file=$2 script=$3 expected=$4 dir out status=0
    case_no=$((case_no + 1))
    dir="$work/case$case_no"
    cp -R "$work/pristine" "$dir"
    sed -i "$script" "$dir/$file"
    if cmp -s "$work/pristine/$file" "$dir/$file"; then
        echo "proto-breaking: FAIL: self-test edit ($name) matched nothing in $file: $script" >&2
        exit 1
    fi
    echo "== self-test: $name"
    out="$(cd "$dir" && "$buf" breaking --against "$work/pristine" 2>&1)" || status=$?
    [ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/   /'
    if [ "$expected" = compatible ]; then
        if [ "$status" != 0 ]; then
            echo "proto-breaking: FAIL: buf breaking refused a compatible change ($name), exit $status" >&2
            exit 1
        fi
    elif [ "$status" != 100 ] || [[ "$out" != *"$expected"* ]]; then
        # buf exits 100 on breaking changes, other codes on errors.
        echo "proto-breaking: FAIL: buf breaking missed $name (exit $status; expected: $expected)" >&2
        exit 1
    fi
    [ "$expected" = compatible ] || caught=$((caught + 1))
}
product=proto/bazaar/product/v1/product.proto
expect "a field's type changed" "$product" \
    's/^  int64 stock = 7 \[/  string stock = 7 [/' \
    'Field "7" with name "stock" on message "Product" changed type from "int64" to "string".'
expect "a field's number changed" "$product" \
    's/^  string sku = 2 \[/  string sku = 10 [/' \
    'Previously present field "2" with name "sku" on message "Product" was deleted.'
expect "a field deleted" "$product" \
    '/^  google.protobuf.Timestamp update_time = 9 /d' \
    'Previously present field "9" with name "update_time" on message "Product" was deleted.'
# The vendored google/ protos are checked too (not in breaking.ignore).
expect "a field's number changed in a vendored google/ proto" proto/google/api/http.proto \
    's/^  string body = 7;/  string body = 13;/' \
    'Previously present field "7" with name "body" on message "HttpRule" was deleted.'
expect "a new field with a new number" "$product" \
    '/^  google.protobuf.Timestamp update_time = 9 /a\  // Example: "5012345678900"\n  string barcode = 10;' \
    compatible
echo "proto-breaking: OK (no break against $against; the self-test's $caught breaks caught, the additive change accepted)"
