# The benchmark guest's script: says how long the kernel has run (its uptime,
# which the host's timing of this line splits the boot with), then reboots at
# once, or first idles a while when the kernel command line says bench=idle
# (the host measures memory meanwhile).
echo "bench: uptime $(cut -d' ' -f1 /proc/uptime)"
case " $(cat /proc/cmdline) " in
*" bench=idle "*)
	echo "bench: idle"
	sleep 4
	;;
esac
