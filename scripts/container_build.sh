#!/usr/bin/env bash
# Build steps shared by Dockerfile and Dockerfile.cuda; also runs natively (tests/test_containers.py).
#
#   container_build.sh build   --prefix DIR [--src DIR] [--lock FILE] [--wheelhouse DIR]
#                              [--tools-lock FILE] [--tools DIR] [--c-source PATH]
#                              [--c-flags FLAGS] [--python PY] [--no-install]
#                              [--image-json FILE KEY=VALUE...]
#   container_build.sh runtime --prefix DIR [--user NAME --uid N]
#
# build: find a C compiler: the base's `cc`, else the zig toolchain of --tools-lock
#   (ziglang's wheel, from --wheelhouse when it holds wheels) installed into a venv in --tools
#   DIR with a `cc` wrapper on PATH, else gcc by apt-get (root, online).  Create DIR/venv and install
#   the hash-locked requirements (--require-hashes; offline from --wheelhouse when it holds
#   wheels), install the project from --src, then build the bundled C reference and the native
#   noise helper into DIR/cache (TORCHBRAGG_CACHE, the exact flags torchbragg-cref uses on the
#   host), generate the supervisor-like preset's crystal inputs into DIR/cache/inputs, and copy
#   the payload scripts to DIR/scripts.  --c-source PATH (a .c file or a folder of them, e.g.
#   the upstream nanoBragg.c) is compiled to DIR/bin/nanobragg-user and DIR/payload.env sets
#   NB_C_BIN to it.  --no-install skips the venv and pip (uses --python).  --image-json FILE
#   KEY=VALUE... (last option) writes the image's provenance (the values of its OCI labels)
#   as JSON; key torch must equal the installed torch.  With SOURCE_DATE_EPOCH set, Python
#   writes hash-based .pyc files and every file is dated no later than it.
# runtime: python3 (from the base: no compiler is installed, and none is needed, since the C
#   builds are cached under the name `cc`), the non-root user (uid N, default 10001) that runs
#   the payload and owns /out.
set -euo pipefail

die() { echo "container_build.sh: $*" >&2; exit 2; }

step="${1:-}"
[ -n "$step" ] || die "usage: container_build.sh build|runtime --prefix DIR [options]"
shift
prefix="" src="" lock="" wheelhouse="" c_source="" c_flags="" python="" install=1 user="" uid=10001
tools_lock="" tools="" image_json=""
image_keys=()
while [ "$#" -gt 0 ]; do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        --src) src="$2"; shift 2 ;;
        --lock) lock="$2"; shift 2 ;;
        --wheelhouse) wheelhouse="$2"; shift 2 ;;
        --c-source) c_source="$2"; shift 2 ;;
        --c-flags) c_flags="$2"; shift 2 ;;
        --python) python="$2"; shift 2 ;;
        --no-install) install=0; shift ;;
        --user) user="$2"; shift 2 ;;
        --uid) uid="$2"; shift 2 ;;
        --tools-lock) tools_lock="$2"; shift 2 ;;
        --tools) tools="$2"; shift 2 ;;
        --image-json) image_json="$2"; shift 2; image_keys=("$@"); break ;;
        *) die "unknown option: $1" ;;
    esac
done
[ -n "$prefix" ] || die "--prefix is required"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="${src:-$(dirname "$here")}"

# offline_args: pip's --no-index --find-links when the wheelhouse holds wheels
offline_args() {
    if [ -n "$wheelhouse" ] && compgen -G "$wheelhouse/*.whl" >/dev/null; then
        echo "--no-index"
        echo "--find-links=$wheelhouse"
    fi
}

# apt_install PACKAGE...: Debian packages as root (online builds only), lists removed after
apt_install() {
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || return 1
    echo "container_build.sh: installing $* (apt-get)" >&2
    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
    local status=$?
    rm -rf /var/lib/apt/lists/*
    return "$status"
}

# ensure_compiler: the base's cc, else zig from --tools-lock, else gcc from apt
ensure_compiler() {
    command -v cc >/dev/null 2>&1 && return 0
    if [ -n "$tools_lock" ] && [ -n "$tools" ]; then
        [ -f "$tools_lock" ] || die "tools lock not found: $tools_lock"
        local py off=() zig
        py="$(command -v python3)" || die "no Python 3 to install the zig toolchain with"
        mapfile -t off < <(offline_args)
        "$py" -m venv "$tools/venv"
        "$tools/venv/bin/python" -m pip --disable-pip-version-check --no-cache-dir install \
            --no-compile "${off[@]}" --require-hashes --no-deps -r "$tools_lock"
        zig="$("$tools/venv/bin/python" -c 'import os, ziglang; print(os.path.dirname(ziglang.__file__))')/zig"
        mkdir -p "$tools/bin"
        printf '#!/bin/sh\nexec %s cc "$@"\n' "$zig" > "$tools/bin/cc"
        chmod +x "$tools/bin/cc"
        export PATH="$tools/bin:$PATH" ZIG_GLOBAL_CACHE_DIR="$tools/zig-cache" \
            ZIG_LOCAL_CACHE_DIR="$tools/zig-cache"
        echo "container_build.sh: C compiler: zig cc $("$zig" version) ($zig)" >&2
        return 0
    fi
    apt_install gcc libc6-dev || true
    command -v cc >/dev/null 2>&1 || die "no C compiler (cc): the base has none, no \
--tools-lock was given and apt-get could not install gcc"
}

ensure_python() {
    command -v python3 >/dev/null 2>&1 && return 0
    apt_install python3 python3-venv || true
    command -v python3 >/dev/null 2>&1 || die "no Python 3 (python3) in the base and none \
could be installed"
}

# write_image_json FILE KEY=VALUE...: a flat JSON object (values are strings)
write_image_json() {
    local file=$1
    shift
    "$python" - "$file" "$@" <<'PY'
import json, sys
pairs = dict(kv.split("=", 1) for kv in sys.argv[2:])
want = pairs.get("torch")
if want:
    import torch
    # (the label is the lock's pin; a wheel may add a local segment: PyPI's CUDA build of
    # 2.13.0 says 2.13.0+cu130. image.json records what torch itself says.)
    if torch.__version__ != want and torch.__version__.split("+")[0] != want:
        sys.exit(f"container_build.sh: the lock installed torch {torch.__version__}, "
                 f"the image is labelled {want}")
    pairs["torch"] = torch.__version__
with open(sys.argv[1], "w") as fh:
    json.dump(pairs, fh, indent=2, sort_keys=True)
    fh.write("\n")
PY
}

# clamp_mtimes DIR: no file under DIR dated after SOURCE_DATE_EPOCH (reproducible layers)
clamp_mtimes() {
    [ -n "${SOURCE_DATE_EPOCH:-}" ] || return 0
    find "$1" -newermt "@$SOURCE_DATE_EPOCH" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
}

do_build() {
    ensure_compiler
    mkdir -p "$prefix/bin" "$prefix/cache" "$prefix/scripts"
    if [ "$install" = 1 ]; then
        [ -n "$lock" ] || die "--lock is required (or --no-install)"
        [ -f "$lock" ] || die "lock file not found: $lock"
        ensure_python
        python3 -m venv "$prefix/venv"
        python="$prefix/venv/bin/python"
        local pip=("$python" -m pip --disable-pip-version-check --no-cache-dir)
        local offline=()
        mapfile -t offline < <(offline_args)
        [ "${#offline[@]}" = 0 ] || echo "container_build.sh: offline install from $wheelhouse" >&2
        "${pip[@]}" install "${offline[@]}" --require-hashes --no-deps -r "$lock"
        "${pip[@]}" install "${offline[@]}" --no-deps --no-build-isolation "$src"
        "${pip[@]}" check
    fi
    python="${python:-python3}"
    # the C reference and the native helpers, with torchbragg-cref's own flags, into the cache
    # (the cache holds them all, whether or not the install compiled them into the package)
    export TORCHBRAGG_PREBUILT=0
    TORCHBRAGG_CACHE="$prefix/cache" "$python" -m torchbragg.cref --build-info \
        > "$prefix/cref-build-info.txt"
    TORCHBRAGG_CACHE="$prefix/cache" "$python" -c \
        'import sys; from torchbragg.io import noise; sys.exit(0 if noise.native_available() else 1)' \
        || die "the native noise helper did not build"
    TORCHBRAGG_CACHE="$prefix/cache" "$python" -c \
        'from torchbragg import native; [native.build_helper(h) for h in native.HELPERS]' \
        || die "the native helpers (HKL reader, blocks, lookups) did not build"
    TORCHBRAGG_CACHE="$prefix/cache" "$python" -c \
        'import sys; from torchbragg.physics import tricubic_native as t; sys.exit(0 if t.available() else 1)' \
        || die "the native tricubic helper did not build"
    unset TORCHBRAGG_PREBUILT
    # the default preset's generated crystal (read-only at run time, so made here)
    TORCHBRAGG_CACHE="$prefix/cache" "$python" -m torchbragg.parity.crystal_inputs \
        || die "the supervisor-like crystal inputs were not generated"
    cat "$prefix/cref-build-info.txt"
    : > "$prefix/payload.env"
    if [ -n "$c_source" ]; then
        local sources=() flags
        if [ -d "$c_source" ]; then
            sources=("$c_source"/*.c)
        elif [ -f "$c_source" ]; then
            sources=("$c_source")
        else
            die "--c-source not found: $c_source"
        fi
        # the parity flags of torchbragg's C build (no FMA contraction, no fast-math)
        flags="${c_flags:-$("$python" -c 'from torchbragg._cbuild import PARITY_CFLAGS as f; print(" ".join(f))')}"
        # shellcheck disable=SC2086  # FLAGS is a list of words
        cc $flags -o "$prefix/bin/nanobragg-user" "${sources[@]}" -lm
        echo "NB_C_BIN=$prefix/bin/nanobragg-user" > "$prefix/payload.env"
        echo "user C program: cc $flags -o $prefix/bin/nanobragg-user ${sources[*]} -lm" \
            | tee "$prefix/user-c-build-info.txt"
    fi
    cp "$here/parity_payload.sh" "$here/container_build.sh" "$prefix/scripts/"
    if [ -n "$image_json" ]; then
        write_image_json "$image_json" "${image_keys[@]}"
    fi
    chmod -R a+rX "$prefix"
    clamp_mtimes "$prefix"
}

do_runtime() {
    ensure_python
    [ -x "$prefix/venv/bin/python" ] && PYTHONDONTWRITEBYTECODE=1 \
        "$prefix/venv/bin/python" -c 'import torchbragg'
    if [ -n "$user" ] && ! id "$user" >/dev/null 2>&1; then
        useradd --uid "$uid" --user-group --create-home --shell /bin/sh "$user"
    fi
    mkdir -p /out
    if [ -n "$user" ]; then
        chown "$user:$user" /out
    fi
}

case "$step" in
    build) do_build ;;
    runtime) do_runtime ;;
    *) die "unknown step: $step (build or runtime)" ;;
esac
