#!/bin/sh
# Runs inside the guest (busybox sh): the qomgen binary end to end on the
# real kernel. Each check prints "ok: ..." or "FAIL: ..."; the exit status
# is the number of failures. Copied to the guest with the binary by
# vm/test-real-kernel.
B=$VFIOVM_BDFS
fails=0
export NO_COLOR=1

check() { # name, expected exit status, command...; output in ./out, ./err
	name=$1 want=$2
	shift 2
	"$@" >out 2>err
	rc=$?
	if [ "$rc" = "$want" ]; then echo "ok: $name"; else
		echo "FAIL: $name (exit $rc, wanted $want)"; cat out err; fails=$((fails + 1))
	fi
}
has() { # file, text
	if grep -qF -- "$2" "$1"; then :; else echo "FAIL: missing '$2' in:"; cat "$1"; fails=$((fails + 1)); fi
}

check "realize through the legacy container" 0 ./qomgen -device "vfio-pci,host=$B,id=gpu0"
has out "backend: legacy (no iommufd= link (QEMU's default))"
has out "pci: 1234:11e8 class 0x00ff00"
has out "region 0: size 0x100000 [rwm], mmap 0x100000"

check "realize through iommufd" 0 ./qomgen -object iommufd,id=io0 -device "vfio-pci,host=$B,iommufd=io0,id=gpu0"
has out "backend: iommufd (iommufd=io0 is set)"
has out "device fd: /dev/vfio/devices/vfio0"
has out "pci: 1234:11e8"

check "policy auto picks iommufd, as JSON" 0 ./qomgen --json --vfio-backend auto -device "vfio-pci,host=$B"
has out '"backend":"iommufd"'
has out '"vendor_id":4660'

check "a failover primary is not probed for migration" 0 ./qomgen -device "vfio-pci,host=$B,failover_pair_id=net0,enable-migration=on"
has out "migration: not probed: failover primary of net0, unplugged before migration"

check "the same device twice is refused" 1 ./qomgen -device "vfio-pci,host=$B" -device "vfio-pci,host=$B"
has err "qomgen: -device vfio-pci,host=$B: vfio $B: device is already attached"

check "host report passes" 0 ./qomgen probe
has out "/dev/iommu                  : PASS  iommufd available"
has out "device $B         : PASS  1234:11e8, group /dev/vfio/1, cdev /dev/vfio/devices/vfio0"

echo "cli: $fails failed"
exit "$fails"
