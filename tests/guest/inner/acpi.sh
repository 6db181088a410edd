# Runs inside a Linux guest under ember and does what test= on the kernel
# command line asks: report what ACPI (or, with acpi=off, the MP table)
# described, or wait for the host's SIGTERM and its power button.
echo "inner guest: user space reached"
mkdir -p /tmp /mnt
# One line per CPU: its package, and the CPUs sharing its core and package.
topology() {
	for c in /sys/devices/system/cpu/cpu[0-9]*; do
		t=$c/topology
		echo "topology: ${c##*/} package $(cat $t/physical_package_id)" \
			"core $(cat $t/thread_siblings_list) package $(cat $t/core_siblings_list)"
	done
}
report() {
	echo "cpus: $(grep -c '^processor' /proc/cpuinfo)"
	topology
	echo "hints: $(tr ' ' '\n' </proc/cmdline | grep -c '^virtio_mmio.device=')"
	[ -e /sys/block/vda ] && echo "vda: found"
	[ -e /sys/class/net/eth0 ] && echo "eth0: found $(cat /sys/class/net/eth0/address)"
	[ -e /sys/bus/acpi/devices/LNXPWRBN:00 ] && echo "power button: described"
	# Kernel messages at warning level or worse (<0> to <4>) that name ACPI.
	dmesg -r | grep -E '^<[0-4]>' >/tmp/warnings
	grep -i acpi /tmp/warnings >/tmp/acpi-warnings
	echo "acpi warnings: $(wc -l </tmp/acpi-warnings)"
	sed 's/^/  /' /tmp/acpi-warnings
	echo "all warnings:"
	sed 's/^/  /' /tmp/warnings
}
# The event device of the input device named "Power Button", or nothing.
power_button() {
	for d in /sys/class/input/input*; do
		[ "$(cat "$d/name" 2>/dev/null)" = "Power Button" ] || continue
		for e in "$d"/event*; do
			[ -e "$e" ] && echo "/dev/input/${e##*/}" && return
		done
	done
}
case " $(cat /proc/cmdline) " in
*" test=acpi "*)
	report
	echo "powering off"
	sync
	poweroff -f
	;;
*" test=acpioff "*)
	report
	echo "waiting for SIGTERM"
	sleep 600
	;;
*" test=reset "*)
	# The init's reboot -f: Linux tries the FADT's reset register first.
	;;
*" test=button "*)
	mount -t ext4 /dev/vda /mnt && echo "mounted"
	ev=$(power_button)
	echo "power button input: ${ev:-none}"
	echo "written before the button" >/mnt/before.txt
	sync
	# Open before saying so: the input device keeps events only for those
	# who have it open, and the host presses the button once it reads this.
	exec 3<"$ev"
	echo "waiting for the power button"
	# One input event (struct input_event, 24 bytes) is the press.
	dd of=/dev/null bs=24 count=1 <&3 2>/dev/null
	exec 3<&-
	echo "power button pressed"
	echo "written at shutdown" >/mnt/shutdown.txt
	umount /mnt && echo "unmounted"
	echo "powering off"
	poweroff -f
	;;
*" test=ignore "*)
	echo "power button input: $(power_button)"
	echo "ignoring the power button"
	sleep 600
	;;
esac
