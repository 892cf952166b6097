#!/usr/bin/env bash
# Build steps shared by Dockerfile and Dockerfile.cuda; also runs natively (tests/test_containers.py).
#
#   container_build.sh build   --prefix DIR [--src DIR] [--lock FILE] [--wheelhouse DIR]
#                              [--c-source PATH] [--c-flags FLAGS] [--python PY] [--no-install]
#   container_build.sh runtime --prefix DIR [--user NAME --uid N]
#
# build: make sure a C compiler exists (apt-get when root and missing), create DIR/venv and
#   install the hash-locked requirements (--require-hashes; offline from --wheelhouse when it
#   holds wheels), install the project from --src, then build the bundled C reference and the
#   native noise helper into DIR/cache (TORCHBRAGG_CACHE, the exact flags torchbragg-cref uses
#   on the host), generate the supervisor-like preset's crystal inputs into DIR/cache/inputs,
#   and copy the payload scripts to DIR/scripts.  --c-source PATH (a .c file or a
#   folder of them, e.g. the upstream nanoBragg.c) is compiled to DIR/bin/nanobragg-user and
#   DIR/payload.env sets NB_C_BIN to it.  --no-install skips the venv and pip (uses --python).
# runtime: python3 and the compiler (torchbragg-cref needs one even for a cached build), and
#   the non-root user (uid N, default 10001) that runs the payload and owns /out.
set -euo pipefail

die() { echo "container_build.sh: $*" >&2; exit 2; }

step="${1:-}"
[ -n "$step" ] || die "usage: container_build.sh build|runtime --prefix DIR [options]"
shift
prefix="" src="" lock="" wheelhouse="" c_source="" c_flags="" python="" install=1 user="" uid=10001
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
        *) die "unknown option: $1" ;;
    esac
done
[ -n "$prefix" ] || die "--prefix is required"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="${src:-$(dirname "$here")}"

# ensure_tool COMMAND LABEL PACKAGE...: install the Debian packages when COMMAND is missing
# (as root with apt-get), or fail naming LABEL
ensure_tool() {
    local cmd=$1 label=$2
    shift 2
    if command -v "$cmd" >/dev/null 2>&1; then
        return 0
    fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "container_build.sh: installing $* (apt-get)" >&2
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
        rm -rf /var/lib/apt/lists/*
    fi
    command -v "$cmd" >/dev/null 2>&1 || die "no $label ($cmd) and none could be installed"
}

ensure_compiler() { ensure_tool cc "C compiler" gcc libc6-dev; }
ensure_python() { ensure_tool python3 "Python 3" python3 python3-venv; }

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
        if [ -n "$wheelhouse" ] && compgen -G "$wheelhouse/*.whl" >/dev/null; then
            echo "container_build.sh: offline install from $wheelhouse" >&2
            offline=(--no-index --find-links "$wheelhouse")
        fi
        "${pip[@]}" install "${offline[@]}" --require-hashes --no-deps -r "$lock"
        "${pip[@]}" install "${offline[@]}" --no-deps --no-build-isolation "$src"
        "${pip[@]}" check
    fi
    python="${python:-python3}"
    # the C reference and the noise helper, with torchbragg-cref's own flags, into the cache
    TORCHBRAGG_CACHE="$prefix/cache" "$python" -m torchbragg.cref --build-info \
        > "$prefix/cref-build-info.txt"
    TORCHBRAGG_CACHE="$prefix/cache" "$python" -c \
        'import sys; from torchbragg.io import noise; sys.exit(0 if noise.native_available() else 1)' \
        || die "the native noise helper did not build"
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
    chmod -R a+rX "$prefix"
}

do_runtime() {
    ensure_python
    ensure_compiler
    [ -x "$prefix/venv/bin/python" ] && "$prefix/venv/bin/python" -c 'import torchbragg'
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
