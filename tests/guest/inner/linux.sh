# Runs inside a Linux guest under ember: reports what the guest sees, then
# does what the kernel command line's test= asks.
echo "inner guest: user space reached"
echo "cpus: $(grep -c '^processor' /proc/cpuinfo)"
for c in /sys/devices/system/cpu/cpu[0-9]*; do
	echo "topology: ${c##*/} package $(cat "$c/topology/physical_package_id")" \
		"core $(cat "$c/topology/thread_siblings_list")"
done
echo "memtotal: $(sed -n 's/^MemTotal: *\([0-9]*\) kB$/\1/p' /proc/meminfo)"
echo "year: $(date -u +%Y)"
case " $(cat /proc/cmdline) " in
*" test=stdin "*)
	echo "waiting for a line"
	read -r line
	echo "got: $line"
	;;
*" test=panic "*)
	echo "panicking"
	echo c >/proc/sysrq-trigger
	;;
esac
