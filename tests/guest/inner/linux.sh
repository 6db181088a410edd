# Runs inside a Linux guest under ember: reports what the guest sees, then
# does what the kernel command line's test= asks.
echo "inner guest: user space reached"
echo "cpus: $(grep -c '^processor' /proc/cpuinfo)"
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
