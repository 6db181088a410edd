# Runs inside a Linux guest under ember with a virtio-rng device: reports
# which hardware RNG the kernel uses, whether two reads differ, and how fast
# the device gives bytes when test=rate.
echo "inner guest: user space reached"
hw=/sys/class/misc/hw_random
echo "rng available: $(cat $hw/rng_available)"
echo "rng current: $(cat $hw/rng_current)"
now() { cut -d' ' -f1 /proc/uptime; }
case " $(cat /proc/cmdline) " in
*" test=read "*)
	a=$(head -c 64 /dev/hwrng | od -An -tx1 | tr -d ' \n')
	b=$(head -c 64 /dev/hwrng | od -An -tx1 | tr -d ' \n')
	echo "read a: $a"
	echo "read b: $b"
	[ ${#a} -eq 128 ] && [ "$a" != "$b" ] && echo "reads differ"
	;;
*" test=rate "*)
	# Take what the quota holds, then time 20 periods' worth.
	head -c 1024 /dev/hwrng >/dev/null
	t0=$(now)
	n=$(head -c 20480 /dev/hwrng | wc -c)
	t1=$(now)
	echo "rate: $n bytes in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s"
	;;
esac
