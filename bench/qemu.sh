# shellcheck shell=sh
# QEMU as the benchmarks run it, sourced after bench/lib.sh by every
# benchmark that boots Linux: QEMU's microvm machine two ways, both side by
# side with ember in the same run. A benchmark names it, and the firmware
# both configurations load, in its header:
#   #@ file bench/qemu.sh
#   #@ file /usr/share/qemu/qboot.rom
#   #@ file /usr/share/qemu/bios-microvm.bin
#   #@ file /usr/share/qemu/linuxboot_dma.bin
#
# best    The fastest configuration of microvm bench/qemu-tune.bench found
#         for each workload: qboot instead of SeaBIOS, no option ROMs, PIT
#         or PIC; modern virtio-mmio (virtio 1.x, which ember offers);
#         io_uring for disks, as ember uses. Two choices depend on the
#         workload, and the benchmark makes them:
#         - The RTC (rtc=on or off). microvm leaves it out under KVM by
#           default, and Debian's kernel then spends 3.5 s of every boot
#           in the harness probing for it (initcall_debug: cmos_init
#           returns -ENODEV after 3.5 s), so a benchmark that times a boot
#           gives QEMU its RTC. With the RTC, though, QEMU's sequential
#           disk transfers in a booted guest run a third slower (in the
#           same run: writes 274-302 MB/s with it, 388-474 without), so
#           the disk and network benchmarks, which time transfers only,
#           leave it out.
#         - The irqchip: microvm's default, split (IOAPIC in QEMU). With
#           kernel-irqchip=on, as ember has it, a guest's first disk
#           request never completes under this QEMU (7.2), so only a guest
#           without virtio devices gets it.
#         ACPI stays on: Debian's kernel finds virtio-mmio devices only
#         through ACPI (it is built without virtio_mmio.device=, which
#         microvm uses without ACPI).
# default microvm as it comes: ACPI with SeaBIOS and its option ROM,
#         kernel-irqchip=split, no RTC under KVM, legacy virtio-mmio,
#         aio=threads.
#
# QEMU's guests add reboot=t to their command line: Linux's reboot through
# microvm's ACPI does not end QEMU every time (the guest falls through to
# its last resort, a jump into the BIOS, which hangs or fails in KVM: 4 of
# 11 boots with ACPI in the first trials). A triple fault
# always does, and -no-reboot turns it into QEMU's exit. ember's guests reset
# through its ACPI reset register, as before.

qemu_reboot=reboot=t

# guest_cmdline NAME CMDLINE: the guest's command line in the run NAME:
# CMDLINE, with qemu_reboot added unless NAME is one of ember's runs, which
# $ember_runs lists ("ember" unless the benchmark says otherwise).
guest_cmdline() {
	case " ${ember_runs:-ember} " in
	*" $1 "*) echo "$2" ;;
	*) echo "$2 $qemu_reboot" ;;
	esac
}

# qemu_base: QEMU and the options every configuration shares: no devices,
# configuration files or display of its own, the serial port on standard
# output, an exit instead of a reboot, firmware from $DATA.
qemu_base() {
	echo "$DATA/qemu-system-x86_64" -cpu host -nodefaults -no-user-config -no-reboot \
		-display none -serial stdio -L "$DATA"
}

# qemu_args best [IRQCHIP [RTC]] | default: QEMU and its options up to the
# guest's RAM, vCPUs, kernel and devices (words, no spaces in them). For
# best, IRQCHIP is split (the default) or on (guests without virtio
# devices), and RTC off (the default) or on.
qemu_args() {
	case $1 in
	best)
		echo "$(qemu_base)" -M "microvm,x-option-roms=off,pit=off,pic=off,rtc=${3:-off}" \
			-bios qboot.rom -accel "kvm,kernel-irqchip=${2:-split}" \
			-global virtio-mmio.force-legacy=false
		;;
	default)
		echo "$(qemu_base)" -M microvm -accel kvm
		;;
	*)
		echo "qemu_args: no configuration '$1'" >&2
		return 2
		;;
	esac
}

# qemu_aio best|default: what a -drive adds for QEMU's disk I/O engine.
qemu_aio() {
	case $1 in
	best) echo ",aio=io_uring" ;;
	*) echo "" ;;
	esac
}
