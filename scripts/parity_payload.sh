#!/usr/bin/env bash
# The parity payload: the images' entrypoint, and what `nox -s parity-cpu -- --local` runs.
#
#   parity_payload.sh [torchbragg-parity run options] [-- nanoBragg args]
#   parity_payload.sh campaign SPEC.yaml [torchbragg-parity campaign options]
#
# Default arguments: --preset supervisor-like (the users' supervisor geometry on the project's own
# generated crystal; no input files needed).  The bundle goes to $PARITY_OUT/<UTC timestamp>/
# (PARITY_OUT: /out in the images, reports/parity on the host) unless --out/--out-root is given.
# NB_C_BIN comes from $TORCHBRAGG_PREFIX/payload.env when the image was built with C_SOURCE.
# TORCHBRAGG_RUNTIME (docker|host) and TORCHBRAGG_RUNTIME_NOTE are recorded in summary.md and
# env.json.  The exit status is torchbragg-parity's (0 pass, 1 fail, 2 error; campaign: 3 C faults only).
set -euo pipefail

out_root="${PARITY_OUT:-/out}"
runtime="${TORCHBRAGG_RUNTIME:-host}"
python="${PYTHON:-python3}"
prefix="${TORCHBRAGG_PREFIX:-/opt/torchbragg}"

if [ -z "${NB_C_BIN:-}" ] && [ -s "$prefix/payload.env" ]; then
    # shellcheck disable=SC1091  # written by container_build.sh
    . "$prefix/payload.env"
    export NB_C_BIN
fi
if [ "$#" -eq 0 ]; then
    set -- --preset supervisor-like
fi

has_out=0
for arg in "$@"; do
    case "$arg" in
        --) break ;;
        --out|--out=*|--out-root|--out-root=*) has_out=1 ;;
    esac
done

run=(torchbragg-parity run)
if [ "${1:-}" = campaign ]; then
    shift
    run=(torchbragg-parity campaign)
fi
bundle=""
if [ "$has_out" = 0 ]; then
    mkdir -p "$out_root"
    stamp="$(date -u +%Y%m%dT%H%M%SZ)"
    bundle="$out_root/$stamp"
    i=0
    while [ -e "$bundle" ]; do
        i=$((i + 1))
        bundle="$out_root/$stamp-$i"
    done
    run+=(--out "$bundle")
fi

echo "parity payload ($runtime): ${run[*]} $*" >&2
status=0
"${run[@]}" "$@" || status=$?

if [ -n "$bundle" ] && [ -f "$bundle/sha256.txt" ]; then
    "$python" -m torchbragg.containers annotate "$bundle" --runtime "$runtime" \
        --note "${TORCHBRAGG_RUNTIME_NOTE:-}" --image "${TORCHBRAGG_IMAGE:-}"
fi
exit "$status"
