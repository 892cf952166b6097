#!/usr/bin/env bash
# Memory/UB checks of the clean-room C reference (src/torchbragg/csrc):
#   1. ASan+UBSan build (clang, else gcc) run on every small golden case through
#      golden_check.py (any sanitizer report makes the run exit non-zero -> FAIL);
#   2. the same build on the robustness cases of tests/test_cref_robustness.py (bad outputs,
#      FIFOs and devices as inputs, huge SMV headers, out-of-range numbers, closed stdout);
#   3. valgrind --leak-check=full on a few small golden cases (skipped without valgrind).
# Usage: scripts/cref_sanitize.sh [GOLDEN_DIR]     (default: ../shared/golden beside the repo)
# Exit status 0 when everything is clean.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
CSRC="$REPO/src/torchbragg/csrc"
GOLDEN="${1:-${TORCHBRAGG_GOLDEN:-$REPO/../shared/golden}}"
CHECK="$(dirname "$GOLDEN")/tools/golden_check.py"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
CC_SAN="$(command -v clang || command -v gcc)"
FLAGS="-O1 -g -std=c99 -ffp-contract=off -fno-fast-math -Wall -Wextra -Werror"
# float-cast-overflow is not part of gcc's "undefined" group: named so (int)1e308 is caught
echo "== building with $CC_SAN -fsanitize=address,undefined,float-cast-overflow"
"$CC_SAN" $FLAGS -fsanitize=address,undefined,float-cast-overflow \
    -fno-sanitize-recover=undefined,float-cast-overflow \
    -fno-omit-frame-pointer -o "$WORK/cref_asan" "$CSRC"/*.c -lm
gcc -O2 -std=c99 -ffp-contract=off -fno-fast-math -Wall -Wextra -Werror -g \
    -o "$WORK/cref_plain" "$CSRC"/*.c -lm
[ -f "$GOLDEN/MANIFEST.json" ] || { echo "no golden set at $GOLDEN"; exit 2; }
SMALL=$(cd "$GOLDEN" && for d in */case.json; do c=${d%/case.json};
        [ "$c" = supervisor_full ] || echo "$c"; done)
status=0
echo "== ASan/UBSan on the small golden cases"
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
OMP_NUM_THREADS=1 python3 "$CHECK" --set "$GOLDEN" --cmd "$WORK/cref_asan" --jobs 2 \
    --case $SMALL | tail -n 1 || status=1
echo "== ASan/UBSan on the robustness cases"
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
TORCHBRAGG_CREF_BIN="$WORK/cref_asan" PYTHONPATH="$REPO/src${PYTHONPATH:+:$PYTHONPATH}" \
python3 -m pytest -q -p no:cacheprovider "$REPO/tests/test_cref_robustness.py" | tail -n 1 \
    || status=1
if command -v valgrind >/dev/null; then
    echo "== valgrind on a few small cases"
    mkdir -p "$WORK/run/c"
    ln -s "$GOLDEN/inputs" "$WORK/run/inputs"
    for c in noise_poisson_all_branches interpolate_fallback_small_grid mask_file_header \
             sourcefile_four_sources sparse_hkl_default_F_fdump; do
        mapfile -t ARGV < <(python3 -c "import json,sys;[print(a) for a in json.load(open(sys.argv[1]))['argv']]" "$GOLDEN/$c/case.json")
        if (cd "$WORK/run/c" && valgrind -q --error-exitcode=1 --leak-check=full \
                --errors-for-leak-kinds=definite,indirect "$WORK/cref_plain" "${ARGV[@]}" >/dev/null); then
            echo "valgrind ok   $c"
        else
            echo "valgrind FAIL $c"; status=1
        fi
    done
else
    echo "== valgrind not installed: skipped"
fi
exit $status
