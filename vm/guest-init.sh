#!/bin/busybox sh
# /init of the qomgen test guest (busybox sh), adapted from the shared vfio-vm
# tool. vm/setup puts it into the base initramfs; the per-run archive that
# vm/run-in-guest appends adds /vfiovm/cmd, /vfiovm/env and the user's files
# under /files. (The /vfiovm paths and the VFIOVM_* names are kept from that
# tool so test code works under either harness.)
#
# Serial ports: ttyS0 = console/kernel log, ttyS1 = COMMAND stdout,
# ttyS2 = COMMAND stderr (+ this script's report unless vfiovm.quiet=1),
# ttyS3 = control: "VFIOVM_RC=<n>". Separate ports keep the command's output
# byte-exact (no kernel messages mixed in) and give the host an exit code it
# can trust. The VM then reboots, which ends QEMU (-no-reboot).

/bin/busybox mkdir -p /proc /sys /dev /tmp /run /bin /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/files:/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
exec </dev/console >/dev/console 2>&1

# kernel command line options of ours
BIND=1234:11e8
NOIOMMU=0
QUIET=0
for a in $(cat /proc/cmdline); do
	case "$a" in
	vfiovm.bind=*) BIND="${a#vfiovm.bind=}" ;;
	vfiovm.noiommu=*) NOIOMMU="${a#vfiovm.noiommu=}" ;;
	vfiovm.quiet=*) QUIET="${a#vfiovm.quiet=}" ;;
	esac
done
# fd 3 = stdout, 4 = stderr, 5 = control; raw mode so bytes pass unchanged
exec 3<>/dev/ttyS1 4<>/dev/ttyS2 5<>/dev/ttyS3
stty raw -echo <&3; stty raw -echo <&4; stty raw -echo <&5

say() {
	echo "vfio-vm: $*"
	[ "$QUIET" = 1 ] || echo "vfio-vm: $*" >&4
}
finish() { # rc
	echo "VFIOVM_RC=$1"
	echo "VFIOVM_RC=$1" >&5
	# the last close of each tty waits until the UART has sent everything
	exec 3>&- 4>&- 5>&-
	sync
	reboot -f
	sleep 5
	poweroff -f
}
die_off() { say "FATAL: $*"; finish 125; }
say "kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) cpu(s), $(awk '/MemTotal/{print $2" kB"}' /proc/meminfo)"

# Modules (stock Debian kernel only; the custom kernel has everything built in):
# vfio's, and kvm + kvm-amd for /dev/kvm (a nested VMM, devices/examples/edu_vmm).
# vfio's noiommu switch is a module parameter there, so it is passed to insmod.
if [ -f /vfiovm/modules.order ]; then
	while read -r m; do
		p=
		case "$m" in vfio.ko|*/vfio.ko) [ "$NOIOMMU" = 1 ] && p=enable_unsafe_noiommu_mode=1 ;; esac
		# kvm-amd needs AMD SVM (TCG's -cpu max has it; an Intel host's
		# --kvm guest does not): skip it quietly without.
		case "$m" in kvm-amd.ko|kvm_amd.ko) grep -qw svm /proc/cpuinfo || continue ;; esac
		insmod "/lib/modules/$m" $p 2>/dev/null || say "WARN: insmod $m failed"
	done </vfiovm/modules.order
fi
if [ "$NOIOMMU" = 1 ] && [ -w /sys/module/vfio/parameters/enable_unsafe_noiommu_mode ]; then
	echo Y >/sys/module/vfio/parameters/enable_unsafe_noiommu_mode
fi
[ -d /sys/bus/pci/drivers/vfio-pci ] || say "WARN: vfio-pci driver not registered"

# Bind every PCI device whose vendor:device is in $BIND to vfio-pci.
# driver_override + drivers_probe binds exactly these devices, whatever
# driver (if any) claimed them first.
BDFS=
for d in /sys/bus/pci/devices/*; do
	v=$(cat "$d/vendor"); dv=$(cat "$d/device")
	id="${v#0x}:${dv#0x}"
	case ",$BIND," in *",$id,"*) ;; *) continue ;; esac
	bdf=${d##*/}
	echo vfio-pci >"$d/driver_override"
	[ -e "$d/driver" ] && echo "$bdf" >"$d/driver/unbind"
	echo "$bdf" >/sys/bus/pci/drivers_probe
	drv=$(readlink "$d/driver"); drv=${drv##*/}
	if [ "$drv" = vfio-pci ]; then say "bound $bdf ($id) to vfio-pci"; else say "WARN: $bdf ($id) driver='$drv'"; fi
	BDFS="$BDFS $bdf"
done
[ -n "$BDFS" ] || say "WARN: no PCI device matching $BIND"

# Report what the VFIO/IOMMUFD world looks like.
chk() { if [ -e "$1" ]; then say "ok   $1 $2"; else say "miss $1"; fi; }
chk /dev/vfio/vfio
chk /dev/iommu
for bdf in $BDFS; do
	g=$(readlink /sys/bus/pci/devices/$bdf/iommu_group); g=${g##*/}
	chk /sys/bus/pci/devices/$bdf/iommu_group "-> group $g"
	[ -n "$g" ] || continue
	if [ -e /dev/vfio/$g ]; then chk /dev/vfio/$g; else chk /dev/vfio/noiommu-$g; fi
	vd=$(ls /sys/bus/pci/devices/$bdf/vfio-dev 2>/dev/null)
	chk /sys/bus/pci/devices/$bdf/vfio-dev "$vd"
	if [ -n "$vd" ] && [ -e /dev/vfio/noiommu-$g ] && [ ! -e /dev/vfio/devices/$vd ]; then
		say "n/a  /dev/vfio/devices/$vd (no cdev for noiommu devices)"
	elif [ -n "$vd" ]; then
		chk /dev/vfio/devices/$vd
	fi
done
say "ls /dev/vfio:" $(ls /dev/vfio 2>/dev/null) "devices:" $(ls /dev/vfio/devices 2>/dev/null)
[ -d /sys/kernel/iommu_groups ] && say "iommu groups: $(ls /sys/kernel/iommu_groups | wc -l)"

# Run the command. VFIOVM_BDFS tells tests which device(s) they may use; its
# presence is also how a test knows it runs inside the guest.
[ -f /vfiovm/cmd ] || die_off "no /vfiovm/cmd in initramfs"
if [ -f /vfiovm/env ]; then
	while IFS= read -r kv; do [ -n "$kv" ] && export "$kv"; done </vfiovm/env
fi
export VFIOVM_BDFS="${BDFS# }"
mkdir -p /files
cd /files
say "running: $(cat /vfiovm/cmd)"
sh /vfiovm/cmd </dev/null >&3 2>&4 3>&- 4>&- 5>&-
rc=$?
echo "vfio-vm: command exited with $rc"
finish $rc
