#!/usr/bin/env bash
# Builds Bazaar's container images without a container engine (`make
# image`): per workload an OCI image layout `<out>/<workload>` tagged with
# the chart's appVersion, made with umoci (`scripts/tools.sh umoci`).
#
# The root filesystem is distroless/cc-like: the binary (debug info
# stripped) as /usr/local/bin/bazaar-<workload>, the glibc libraries it links
# (ldd; libc, libm, libgcc_s and the loader, copied from this machine with
# their symlinks), /etc/passwd and /etc/group naming nonroot (65532), /tmp,
# and /data (owned by 65532: the services' default `data/` under
# WorkingDir /, declared a volume). No shell, no package manager, no CA
# certificates (nothing calls out over public TLS). Config: user
# 65532:65532, the binary as entrypoint, its port exposed and
# BAZAAR__SERVER__LISTEN=0.0.0.0:<port> (the gateway's key is
# BAZAAR__GATEWAY__LISTEN).
#
#   scripts/image.sh [--bin-dir DIR] [--out DIR] [--tag TAG] [--sizes FILE] [WORKLOAD...]
#       OCI layouts from the binaries in DIR (default: <cargo target>/release);
#       --sizes also writes the measured sizes as a Markdown table to FILE.
#   scripts/image.sh --rootfs-only DIR [--bin-dir DIR] [WORKLOAD...]
#       only the root filesystems, DIR/<workload>/ (what images/Containerfile
#       copies into its final stages).
#
# WORKLOAD: user, product, order, payment, notification, gateway (default: all six).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

declare -A PORTS=([user]=50051 [product]=50052 [order]=50053 [payment]=50054 [notification]=50055 [gateway]=8080)
ALL=(user product order payment notification gateway)
UID_NONROOT=65532

bin_dir=""
out="$root/target/images"
tag=""
sizes=""
rootfs_only=""
workloads=()
while [ $# -gt 0 ]; do
    case "$1" in
        --bin-dir) bin_dir="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --tag) tag="$2"; shift 2 ;;
        --sizes) sizes="$2"; shift 2 ;;
        --rootfs-only) rootfs_only="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "image: unknown option $1" >&2; exit 2 ;;
        *) [ -n "${PORTS[$1]:-}" ] || { echo "image: unknown workload $1 (${ALL[*]})" >&2; exit 2; }
           workloads+=("$1"); shift ;;
    esac
done
[ ${#workloads[@]} -gt 0 ] || workloads=("${ALL[@]}")
if [ -z "$bin_dir" ]; then
    target="${CARGO_TARGET_DIR:-}"
    if [ -z "$target" ]; then
        target="$(cd "$root" && "${CARGO:-cargo}" metadata --format-version 1 --no-deps \
            | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
    fi
    bin_dir="$target/release"
fi
[ -n "$tag" ] || tag="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$root/helm/bazaar/Chart.yaml")"
[ -n "$tag" ] || { echo "image: no appVersion in helm/bazaar/Chart.yaml" >&2; exit 1; }

# replicate ROOTFS PATH: copies the host's PATH into ROOTFS, every symlink
# on the way as the same symlink (Debian's merged /usr: /lib -> usr/lib,
# /lib64/ld-linux-x86-64.so.2 -> /lib/x86_64-linux-gnu/...).
replicate() {
    local rootfs="$1" rest="${2#/}" done="" comp cur target
    while [ -n "$rest" ]; do
        comp="${rest%%/*}"
        if [ "$comp" = "$rest" ]; then rest=""; else rest="${rest#*/}"; fi
        cur="$done/$comp"
        if [ -L "$cur" ]; then
            target="$(readlink "$cur")"
            if [ ! -L "$rootfs$cur" ]; then
                mkdir -p "$rootfs$done"
                ln -s "$target" "$rootfs$cur"
            fi
            case "$target" in /*) ;; *) target="$done/$target" ;; esac
            replicate "$rootfs" "$target${rest:+/$rest}"
            return
        elif [ -d "$cur" ]; then
            mkdir -p "$rootfs$cur"
        else
            cp --preserve=mode "$cur" "$rootfs$cur"
        fi
        done="$cur"
    done
}

# populate ROOTFS WORKLOAD: the image's root filesystem.
populate() {
    local rootfs="$1" workload="$2" bin lib libs
    bin="$bin_dir/bazaar-$workload"
    [ -x "$bin" ] || { echo "image: $bin is not built (make image builds it: cargo build --release --bins)" >&2; exit 1; }
    mkdir -p "$rootfs/usr/local/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/data"
    # Debug info out (line tables: half a release binary); symbols stay
    # for backtraces.
    if command -v strip >/dev/null; then
        strip --strip-debug -o "$rootfs/usr/local/bin/bazaar-$workload" "$bin"
    else
        cp "$bin" "$rootfs/usr/local/bin/bazaar-$workload"
    fi
    chmod 0755 "$rootfs/usr/local/bin/bazaar-$workload"
    # The shared libraries it links, and the loader.
    if libs="$(ldd "$bin" 2>&1)"; then
        if grep -q "not found" <<<"$libs"; then
            echo "image: $bin links a library this machine lacks:" >&2
            echo "$libs" >&2
            exit 1
        fi
        while read -r lib; do
            [ -n "$lib" ] && replicate "$rootfs" "$lib"
        done < <(awk '/=>/ { print $3; next } $1 ~ /^\// { print $1 }' <<<"$libs")
    fi # else a static binary: nothing to copy
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n' \
        "$UID_NONROOT" "$UID_NONROOT" >"$rootfs/etc/passwd"
    printf 'root:x:0:\nnonroot:x:%d:\n' "$UID_NONROOT" >"$rootfs/etc/group"
    # glibc resolves Service names (product.bazaar.svc...) by files, then DNS.
    printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
    chmod 1777 "$rootfs/tmp"
    chmod 0755 "$rootfs/data"
    if [ "$(id -u)" = 0 ]; then
        chown "$UID_NONROOT:$UID_NONROOT" "$rootfs/data"
    else
        # Rootless umoci records every file as root's: let 65532 write anyway.
        chmod 1777 "$rootfs/data"
    fi
}

if [ -n "$rootfs_only" ]; then
    for workload in "${workloads[@]}"; do
        rm -rf "${rootfs_only:?}/$workload"
        populate "$rootfs_only/$workload" "$workload"
        echo "image: $rootfs_only/$workload"
    done
    exit 0
fi

command -v umoci >/dev/null || { echo "image: umoci is missing: scripts/tools.sh umoci (as root) installs it" >&2; exit 1; }
rootless=()
[ "$(id -u)" = 0 ] || rootless=(--rootless)
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# blob_sizes LAYOUT TAG: "<config+layers bytes, compressed> <layers uncompressed>"
blob_sizes() {
    python3 - "$1" "$2" <<'EOF'
import gzip, json, os, sys
layout, tag = sys.argv[1], sys.argv[2]
blob = lambda d: os.path.join(layout, "blobs", *d.split(":"))
index = json.load(open(os.path.join(layout, "index.json")))
desc = next(m for m in index["manifests"]
            if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)
manifest = json.load(open(blob(desc["digest"])))
packed = desc["size"] + manifest["config"]["size"] + sum(l["size"] for l in manifest["layers"])
unpacked = 0
for layer in manifest["layers"]:
    with gzip.open(blob(layer["digest"])) as f:
        while chunk := f.read(1 << 20):
            unpacked += len(chunk)
print(packed, unpacked)
EOF
}
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

rows=()
for workload in "${workloads[@]}"; do
    port="${PORTS[$workload]}"
    layout="$out/$workload"
    image="$layout:$tag"
    bundle="$work/$workload"
    rm -rf "$layout"
    umoci init --layout "$layout"
    umoci new --image "$image"
    umoci unpack "${rootless[@]}" --image "$image" "$bundle"
    populate "$bundle/rootfs" "$workload"
    umoci repack "${rootless[@]}" --image "$image" --history.created_by "scripts/image.sh $workload" "$bundle"
    if [ "$workload" = gateway ]; then listen_key=BAZAAR__GATEWAY__LISTEN; else listen_key=BAZAAR__SERVER__LISTEN; fi
    umoci config --image "$image" \
        --os linux --architecture amd64 \
        --config.user "$UID_NONROOT:$UID_NONROOT" \
        --config.entrypoint "/usr/local/bin/bazaar-$workload" \
        --config.workingdir / \
        --config.exposedports "$port/tcp" \
        --config.env "PATH=/usr/local/bin" \
        --config.env "$listen_key=0.0.0.0:$port" \
        --config.volume /data \
        --config.label "org.opencontainers.image.title=bazaar-$workload" \
        --config.label "org.opencontainers.image.version=$tag" \
        --history.created_by "scripts/image.sh: user, entrypoint, port, env"
    umoci gc --layout "$layout"
    read -r packed unpacked < <(blob_sizes "$layout" "$tag")
    binary="$(stat -c %s "$bundle/rootfs/usr/local/bin/bazaar-$workload")"
    on_disk="$(du -sb "$layout" | cut -f1)"
    printf 'image: %-8s %s  compressed %s, unpacked %s (binary %s), layout on disk %s\n' \
        "$workload" "$image" "$(mib "$packed")" "$(mib "$unpacked")" "$(mib "$binary")" "$(mib "$on_disk")"
    rows+=("| bazaar-$workload | \`${layout#"$root"/}:$tag\` | $(mib "$packed") | $(mib "$unpacked") | $(mib "$binary") |")
done

if [ -n "$sizes" ]; then
    {
        echo "# Image sizes"
        echo
        echo "Measured by \`make image\` (scripts/image.sh) on $(date -u +%Y-%m-%d), from the release"
        echo "binaries (debug info stripped). Compressed: manifest, config and gzipped layer,"
        echo "what a registry stores and a node pulls. Unpacked: the root filesystem."
        echo "Built with $(rustc --version 2>/dev/null || echo "an unknown rustc"); glibc copied from this machine"
        echo "($(ldd --version | head -1))."
        echo
        echo "| image | OCI layout | compressed | unpacked | of which the binary |"
        echo "|---|---|---|---|---|"
        printf '%s\n' "${rows[@]}"
    } >"$sizes"
    echo "image: wrote ${sizes#"$root"/}"
fi
