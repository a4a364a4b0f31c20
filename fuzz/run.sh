#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for FUZZ_SECONDS each (default 60).
#
# Corpus: new inputs go to .build/fuzz/corpus/<target>/ (kept between runs), the committed seeds in
# fuzz/corpus/<target>/ are read too. A crash leaves .build/fuzz/crashes/<target>-crash-<sha1>,
# prints how to reproduce, and makes the script exit 1 after the remaining targets ran.
#
# Usage: fuzz/run.sh [target…]      Env: FUZZ_SECONDS (60), FUZZ_JOBS (1), FUZZ_BUILD (1: build first)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/.build/fuzz
seconds=${FUZZ_SECONDS:-60}
if [[ ${FUZZ_BUILD:-1} == 1 ]]; then
    "$root/fuzz/build.sh" "$@" || exit 2
fi
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    for f in "$root"/fuzz/targets/*.swift; do targets+=("$(basename "$f" .swift)"); done
fi
# Inputs up to the sizes the real limits allow (tokens 8 KiB, JWKS documents, policy files).
max_len() {
    case $1 in
        JWT) echo 9000 ;; PathNormalizer) echo 4096 ;; PolicyYAML|JWKS|JSON) echo 32768 ;; *) echo 16384 ;;
    esac
}
failed=()
mkdir -p "$out/crashes"
for t in "${targets[@]}"; do
    mkdir -p "$out/corpus/$t"
    log=$out/fuzz-$t.log
    printf '==> fuzz %-16s %ss … ' "$t" "$seconds"
    # The Swift backtracer would read the crashed process's memory and trip ASan over the real report.
    SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0} "$out/bin/fuzz-$t" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$t")" \
        -artifact_prefix="$out/crashes/$t-" -print_final_stats=1 \
        "$out/corpus/$t" "$root/fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$')
    if [[ $rc == 0 ]]; then
        echo "ok (${runs:-?} runs, corpus $(ls "$out/corpus/$t" | wc -l))"
    else
        echo "FAILED (exit $rc)"
        grep -E '^(==[0-9]+==ERROR|Fatal error|SUMMARY|artifact_prefix|Test unit written)' "$log" | head -8 | sed 's/^/    /'
        echo "    log: $log   reproduce: $out/bin/fuzz-$t <artifact>"
        failed+=("$t")
    fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz: crashes in ${failed[*]}"
    exit 1
fi
