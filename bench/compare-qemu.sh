#!/usr/bin/env bash
# Whole-process cost of `-device vfio-pci,help`: qomgen (release build)
# against QEMU, side by side, with the ratio. Wall time with hyperfine
# when it is installed (apt-get install hyperfine), else a timed loop;
# peak RSS with /usr/bin/time -v (GNU time; apt-get install time).
#
#   bench/compare-qemu.sh                 # vfio-pci,help, 300 runs of each
#   RUNS=1000 bench/compare-qemu.sh       # more runs
#   CPU=1 bench/compare-qemu.sh           # pin both to one core (taskset)
#   QEMU=/path/to/qemu-system-x86_64 bench/compare-qemu.sh
#   bench/compare-qemu.sh 'vfio-ccw,help' # another -device argument
#
# Targets (BENCHMARKS.md): qomgen ≤ 2 ms, within 1.15× of /bin/true measured
# in the same run, and ≤ 4 MiB peak RSS.
#   DYNAMIC=1 bench/compare-qemu.sh       # the dynamically linked build
set -euo pipefail
cd "$(dirname "$0")/.."

ARG="${1:-vfio-pci,help}"
RUNS="${RUNS:-300}"
QEMU="${QEMU:-qemu-system-x86_64}"
# Pin by re-running this script under taskset: the measured processes
# inherit the affinity, and no extra exec (of taskset) is timed.
if [[ -n "${CPU:-}" && -z "${QOMGEN_PINNED:-}" ]]; then
    QOMGEN_PINNED=1 exec taskset -c "$CPU" "$0" "$@"
fi

# The binary as it ships (statically linked, see scripts/build-qomgen);
# DYNAMIC=1 measures plain `cargo build --release` instead.
if [[ -n "${DYNAMIC:-}" ]]; then
    cargo build --release --locked -q -p qomgen-devices --bin qomgen
    QOMGEN="$PWD/target/release/qomgen"
else
    QOMGEN="$(scripts/build-qomgen)"
fi

have_qemu=0
if command -v "$QEMU" >/dev/null 2>&1; then
    have_qemu=1
else
    echo "note: $QEMU not found; measuring qomgen alone" >&2
fi

# The two outputs should agree line for line (QEMU lists the same properties).
if [[ $have_qemu == 1 ]]; then
    if diff <("$QOMGEN" -device "$ARG") <("$QEMU" -device "$ARG" 2>/dev/null) >/dev/null; then
        echo "outputs: identical"
    else
        echo "outputs: differ in $(diff <("$QOMGEN" -device "$ARG") <("$QEMU" -device "$ARG" 2>/dev/null) | grep -c "^[<>]") lines (the tables follow different QEMU versions; the job is the same)"
    fi
fi

# Mean, σ, min and median wall time in milliseconds of each command (one
# argument each, split on spaces), over $RUNS runs, one line per command.
# The commands run in one hyperfine invocation, so that they are compared
# side by side under the same load.
mean_ms() {
    if command -v hyperfine >/dev/null 2>&1; then
        local json
        json="$(mktemp)"
        # -N: no intermediate shell, so the figure is the process itself.
        hyperfine -N --style none --warmup 20 --runs "$RUNS" --export-json "$json" \
            "$@" >/dev/null 2>&1
        python3 - "$json" <<'PY'
import json, statistics, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print("%.3f %.3f %.3f %.3f" % (r["mean"] * 1e3, r["stddev"] * 1e3, r["min"] * 1e3,
                                   statistics.median(r["times"]) * 1e3))
PY
        rm -f "$json"
    else
        local start end i c
        for c in "$@"; do
            # shellcheck disable=SC2086 # the command is split on purpose
            for ((i = 0; i < 10; i++)); do $c >/dev/null 2>&1 || true; done
            start=$(date +%s%N)
            # shellcheck disable=SC2086
            for ((i = 0; i < RUNS; i++)); do $c >/dev/null 2>&1 || true; done
            end=$(date +%s%N)
            awk -v ns=$((end - start)) -v n="$RUNS" 'BEGIN { printf "%.3f - - -\n", ns / n / 1e6 }'
        done
    fi
}

# Largest peak RSS in KiB over 20 runs (GNU time's %M, written to a file so
# that the command's own stderr does not mix in).
peak_rss_kib() {
    local max=0 v i out
    out="$(mktemp)"
    for ((i = 0; i < 20; i++)); do
        /usr/bin/time -f '%M' -o "$out" "$@" >/dev/null 2>&1 || true
        v=$(tail -1 "$out")
        ((v > max)) && max=$v
    done
    rm -f "$out"
    echo "$max"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "command: -device $ARG   (runs: $RUNS${CPU:+, pinned to CPU $CPU})"
if command -v hyperfine >/dev/null 2>&1; then
    echo "timer:   $(hyperfine --version)"
else
    echo "timer:   shell loop (install hyperfine for mean ± σ)"
fi
{
    read -r t_mean t_sd t_min t_med
    read -r q_mean q_sd q_min q_med
} < <(mean_ms /bin/true "$QOMGEN -device $ARG")
q_rss=$(peak_rss_kib "$QOMGEN" -device "$ARG")
printf '%-22s %10s %10s %10s %12s\n' "" "mean ms" "σ ms" "min ms" "peak RSS"
printf '%-22s %10s %10s %10s %9.1f MiB\n' "qomgen" "$q_mean" "$q_sd" "$q_min" "$(awk -v k="$q_rss" 'BEGIN{print k/1024}')"
if [[ $have_qemu == 1 ]]; then
    read -r e_mean e_sd e_min _ < <(RUNS=$((RUNS < 50 ? RUNS : 50)) mean_ms "$QEMU -device $ARG")
    e_rss=$(peak_rss_kib "$QEMU" -device "$ARG")
    printf '%-22s %10s %10s %10s %9.1f MiB\n' "$("$QEMU" --version | head -1 | awk '{print "QEMU " $4}')" \
        "$e_mean" "$e_sd" "$e_min" "$(awk -v k="$e_rss" 'BEGIN{print k/1024}')"
fi
printf '%-22s %10s %10s %10s\n' "/bin/true (exec floor)" "$t_mean" "$t_sd" "$t_min"
awk -v q="$q_mean" -v t="$t_mean" -v qm="$q_med" -v tm="$t_med" 'BEGIN {
    printf "ratio qomgen / /bin/true: %.2fx mean, %.2fx median (target <= 1.15x: %s)\n",
        q / t, (tm == "-" ? 0 : qm / tm), (q / t <= 1.15 ? "met" : "MISSED") }'
if [[ $have_qemu == 1 ]]; then
    awk -v a="$e_mean" -v b="$q_mean" -v ra="$e_rss" -v rb="$q_rss" \
        'BEGIN { printf "ratio QEMU/qomgen: time %.1fx, peak RSS %.1fx\n", a / b, ra / rb }'
fi
awk -v t="$q_mean" -v r="$q_rss" 'BEGIN {
    printf "targets: time %s (%.3f ms <= 2 ms), RSS %s (%.1f MiB <= 4 MiB)\n",
        (t <= 2 ? "met" : "MISSED"), t, (r <= 4096 ? "met" : "MISSED"), r / 1024 }'
