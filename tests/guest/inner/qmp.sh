# The QMP test's guest: with test=tick it prints its uptime once a second,
# for the host to see it run, stop and go on; with test=poweroff it powers
# off after a few seconds, for the host to see the SHUTDOWN event.
echo "qmp guest: up"
case " $(cat /proc/cmdline) " in
*" test=poweroff "*)
	sleep 3
	echo "qmp guest: powering off"
	poweroff -f
	;;
*)
	while :; do
		echo "tick $(cut -d' ' -f1 /proc/uptime)"
		sleep 1
	done
	;;
esac
