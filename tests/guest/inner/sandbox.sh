# Runs inside a Linux guest under ember for the sandbox test; test= on the
# kernel command line picks what it does.
echo "inner guest: user space reached"
port=$((0x5e0)) # the test build's hook port (app/testhooks.h)
case " $(cat /proc/cmdline) " in
*" test=wait "*)
	# A disk write for the host to find, then idle until ember is stopped.
	echo "written by the confined guest" | dd of=/dev/vda bs=512 seek=4 conv=fsync 2>/dev/null
	echo "sandbox: ready"
	sleep 600
	;;
*" test=hook-"*)
	echo "hooks: $(dd if=/dev/port bs=1 skip=$port count=1 2>/dev/null)"
	case " $(cat /proc/cmdline) " in
	*" test=hook-open "*) printf '\001' ;;
	*) printf '\002' ;;
	esac | dd of=/dev/port bs=1 seek=$port count=1 2>/dev/null
	echo "sandbox: still alive"
	;;
*" test=net "*)
	ip link set lo up
	ip link set eth0 up
	ip addr add 169.254.7.2/24 dev eth0
	t=0
	until ping -c 1 -W 1 169.254.7.1 >/dev/null 2>&1 || [ $t -ge 60 ]; do t=$((t + 1)); done
	if ping -c 2 -W 5 169.254.7.1 >/dev/null 2>&1; then echo "eth0: ping ok"; fi
	echo "written without root" | dd of=/dev/vda bs=512 seek=4 conv=fsync 2>/dev/null &&
		echo "vda: written"
	;;
esac
