#!/usr/bin/env bash
# QEMU's own DMA mapping of 1 GiB of guest RAM for vfio-pci, in the qomgen
# test guest, for comparison with the `guest_pci` bench's map/unmap of
# 1 GiB (devices/benches/guest_pci.rs; BENCHMARKS.md, "Guest-facing
# vfio-pci").
#
#   bench/qemu-vfio-dma.sh            # 3 runs per backend
#   RUNS=5 bench/qemu-vfio-dma.sh
#
# QEMU is not installed in the guest: run-in-guest copies the host's
# qemu-system-x86_64 (with the libraries ldd lists), strace, and the BIOS
# into it. There QEMU starts paused (-S, TCG, -m 1G, q35) with
# `-device vfio-pci,host=$VFIOVM_BDFS` (legacy container), then with
# `-object iommufd,id=io0` and `iommufd=io0`, and quits from the monitor.
# Its memory listener maps RAM as the machine is built: all of 0-1 GiB
# first (fresh memory: the kernel faults the pages in as it pins them),
# then, when q35's PAM/SMRAM aliases come up, unmaps it and maps it again
# in pieces (now resident). strace -T times each VFIO_IOMMU_MAP_DMA /
# UNMAP_DMA (IOMMU_IOAS_MAP / UNMAP: ioctl 0x3b85 / 0x3b86) and QEMU's
# trace events (vfio_listener_region_add_ram / _del) give their ranges,
# in the same order. Before the runs the guest writes and frees 1400 MiB
# in tmpfs, so that, as in the guest_pci bench, the outer QEMU has backed
# the memory the guest hands out.
#
# These are nested-TCG figures, like the bench's.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-3}"
QEMU="$(command -v "${QEMU:-qemu-system-x86_64}")"
STRACE="$(command -v strace)" || { echo "needs strace (apt-get install strace)" >&2; exit 2; }
BIOS=/usr/share/seabios/bios-256k.bin
VAPIC=/usr/share/qemu/kvmvapic.bin
for f in "$BIOS" "$VAPIC"; do
    [[ -r $f ]] || { echo "missing $f (QEMU's firmware)" >&2; exit 2; }
done

log="$(mktemp)"
trap 'rm -f "$log"' EXIT

# In the guest: prefault, then RUNS runs of each backend, each printing
# its strace and trace lines between markers.
guest_cmd='
dd if=/dev/zero of=/tmp/fill bs=1M count=1400 2>/dev/null; rm -f /tmp/fill
for i in $(seq '"$RUNS"'); do
  for b in legacy iommufd; do
    if [ $b = iommufd ]; then
      extra="-object iommufd,id=io0"; dev="vfio-pci,host=$VFIOVM_BDFS,iommufd=io0"
    else
      extra=""; dev="vfio-pci,host=$VFIOVM_BDFS"
    fi
    echo quit | ./strace -f -T -e trace=ioctl -o /tmp/st ./qemu-system-x86_64 -L /files \
      -M q35,accel=tcg -m 1G -nodefaults -display none -S -monitor stdio $extra -device $dev \
      -trace vfio_listener_region_add_ram -trace vfio_listener_region_del -D /tmp/qt >/dev/null 2>&1
    echo "=== $b"
    grep -E "VFIO_IOMMU_(UN)?MAP_DMA|0x3b, 0x8[56]," /tmp/st
    cat /tmp/qt
    echo "=== end"
  done
done'

vm/run-in-guest -q --mem 3G --timeout 600 "$QEMU" "$STRACE" "$BIOS" "$VAPIC" -- "$guest_cmd" >"$log"

python3 - "$log" "$("$QEMU" --version | sed -n '1s/.*version \([^ ]*\).*/\1/p')" <<'PY'
import re, statistics, sys

runs = {"legacy": [], "iommufd": []}
backend, lines = None, []
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if line.startswith("=== "):
        if line == "=== end":
            runs[backend].append(lines)
        else:
            backend, lines = line[4:], []
        continue
    lines.append(line)

def parse(lines):
    """(map or unmap, first, last, seconds) for each call, in order."""
    calls = []  # (kind, seconds) from strace
    ranges = []  # (kind, first, last) from the trace
    for l in lines:
        m = re.search(r"<([0-9.]+)>$", l)
        if m and ("UNMAP_DMA" in l or "0x3b, 0x86" in l):
            calls.append(("unmap", float(m.group(1))))
        elif m:
            calls.append(("map", float(m.group(1))))
        m = re.search(r"region_add \[ram\] (0x[0-9a-f]+) - (0x[0-9a-f]+)", l)
        if m:
            ranges.append(("map", int(m.group(1), 16), int(m.group(2), 16)))
        m = re.search(r"region_del (0x[0-9a-f]+) - (0x[0-9a-f]+)", l)
        if m:
            ranges.append(("unmap", int(m.group(1), 16), int(m.group(2), 16)))
    if [c[0] for c in calls] != [r[0] for r in ranges]:
        sys.exit("strace and trace disagree: %s / %s" % (calls, ranges))
    return [(r[0], r[1], r[2], c[1]) for r, c in zip(ranges, calls)]

GIB = 1 << 30
print("| QEMU %s, nested TCG (median of %d runs) | legacy container | iommufd |" % (
    sys.argv[2], len(runs["legacy"])))
print("|---|---:|---:|")
# (row, call kind, range): the first call of that kind on that range.
rows = [
    ("map 1 GiB, fresh (0-1 GiB, the first map)", "map", (0, GIB - 1)),
    ("unmap 1 GiB", "unmap", (0, GIB - 1)),
    ("map 1023 MiB again, resident (1 MiB-1 GiB)", "map", (0x100000, GIB - 1)),
]
for title, kind, rng in rows:
    cells = []
    for b in ("legacy", "iommufd"):
        t = []
        for r in runs[b]:
            hits = [s for k, f, l, s in parse(r) if k == kind and (f, l) == rng]
            if hits:
                t.append(hits[0])
        cells.append("%.0f ms" % (statistics.median(t) * 1e3) if t else "n/a")
    print("| %s | %s | %s |" % (title, cells[0], cells[1]))
print()
for b in ("legacy", "iommufd"):
    for i, r in enumerate(runs[b]):
        print("%s run %d: %s" % (b, i + 1, ", ".join(
            "%s 0x%x-0x%x %.1f ms" % (k, f, l, s * 1e3) for k, f, l, s in parse(r))))
PY
