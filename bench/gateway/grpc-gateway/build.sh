#!/usr/bin/env bash
# Builds the grpc-gateway v1 peer (bin/library-grpc-gateway) from Debian's
# packages only: no Go module proxy is reachable, so GOPATH mode against
# /usr/share/gocode. Installs the packages with apt-get when missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
if ! command -v protoc-gen-grpc-gateway >/dev/null || ! command -v go >/dev/null; then
  apt-get install -y -q golang-go golang-grpc-gateway golang-github-grpc-ecosystem-grpc-gateway-dev \
    golang-github-golang-protobuf-1-3-dev golang-google-grpc-dev golang-google-genproto-dev \
    protobuf-compiler >/dev/null
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
gopath="$work/gopath"
pkg="$gopath/src/librarybench"
mkdir -p "$pkg"
googleapis=/usr/share/gocode/src/github.com/grpc-ecosystem/grpc-gateway/third_party/googleapis
map="Macme/library/v1/library.proto=librarybench/librarypb,Mgoogle/protobuf/timestamp.proto=github.com/golang/protobuf/ptypes/timestamp"
protoc -I "$root/gateway/tests/proto" -I "$googleapis" -I /usr/include \
  --go_out="plugins=grpc,$map:$gopath/src" \
  --grpc-gateway_out="logtostderr=true,$map:$gopath/src" \
  acme/library/v1/library.proto
# protoc-gen-go 1.3 names its output after the proto path, not the mapping.
mv "$gopath/src/acme/library/v1/library.pb.go" "$pkg/librarypb/"
cp "$here/main.go" "$pkg/main.go"
mkdir -p "$here/bin"
(cd "$pkg" && GOPATH="$gopath:/usr/share/gocode" GO111MODULE=off GOFLAGS=-mod=mod \
  GOCACHE="${GOCACHE:-$work/gocache}" go build -o "$here/bin/library-grpc-gateway" .)
echo "built $here/bin/library-grpc-gateway"
