# Runs inside a Linux guest under ember with a virtio-serial device, and does
# what test= on the kernel command line asks: a shell on the hvc0 console,
# traffic over named ports whose host ends are Unix sockets, or a port held
# open across a snapshot and restore.
echo "inner guest: user space reached"
mkdir -p /tmp
sha() { sha256sum | cut -d' ' -f1; }
# port NAME: waits (10 s at most) for the port named NAME and prints its
# device (/dev/vportNpM: no udev here to make /dev/virtio-ports/NAME)
port() {
	i=0
	while [ $i -lt 100 ]; do
		for p in /sys/class/virtio-ports/vport*; do
			if [ "$(cat "$p/name" 2>/dev/null)" = "$1" ] && [ -e "/dev/${p##*/}" ]; then
				echo "/dev/${p##*/}"
				return
			fi
		done
		sleep 0.1
		i=$((i + 1))
	done
}
case " $(cat /proc/cmdline) " in
*" test=hvc "*)
	echo "console: $(cat /sys/class/tty/console/active)"
	# A kernel message at the most urgent level goes to every console.
	echo "<0>ember: a kernel message on the console" >/dev/kmsg
	echo "hvc shell ready"
	# The host types the commands; its last one is exit.
	sh -i 2>&1
	;;
*" test=snap "*)
	# The port stays open across a snapshot and restore.
	p=$(port org.ember.snap)
	exec 3<>"$p"
	echo "snap: port open"
	read -r _
	echo "guest before the snapshot" >&3
	echo "snap: ready"
	# Restored, with a new client that sent a line first.
	read -r _
	head -n 1 <&3 >/tmp/line
	echo "from host: $(cat /tmp/line)"
	echo "guest after the restore" >&3
	exec 3>&-
	echo "snap: done"
	;;
*" test=ports "*)
	p=$(port org.ember.test)
	s=$(port org.ember.sink)
	head -c 1048576 /dev/urandom >/tmp/out.bin
	echo "guest sends: $(sha </tmp/out.bin)"
	echo "ports: test at ${p:-none}, sink at ${s:-none}"
	# The host connects its clients, then says go: a port read while no
	# host is connected is at its end of file at once.
	read -r _
	# 1 MiB each way at once, on one open of the port.
	exec 3<>"$p"
	cat /tmp/out.bin >&3 &
	writer=$!
	head -c 1048576 <&3 >/tmp/in.bin
	wait $writer
	exec 3>&-
	echo "guest received: $(sha </tmp/in.bin) $(wc -c </tmp/in.bin)"
	# A port whose host end reads nothing: the writer waits in the guest,
	# and the guest (one vCPU) runs on.
	head -c 67108864 /dev/zero >"$s" &
	sink=$!
	for i in 1 2 3 4 5; do
		sleep 1
		echo "alive $i"
	done
	kill $sink
	wait $sink 2>/dev/null
	echo "sink writer stopped"
	# Numbered lines; the host end goes and comes back meanwhile.
	read -r _ <&0
	exec 3>"$p"
	seq 1 200000 >&3
	echo END >&3
	exec 3>&-
	echo "lines written"
	;;
esac
