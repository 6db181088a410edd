# Runs inside a Linux guest under ember with a vhost-vsock device and moves
# data over AF_VSOCK with socat, taking its cues from ember's stdin (the host
# test): test=xfer sends and receives 64 MiB, opens 100 connections, then
# ends (and reboots) holding one open; test=hello reloads the driver, then
# sends one line; test=snap holds a connection while it is snapshotted, and
# once restored connects again.
echo "inner guest: user space reached"
mkdir -p /tmp
pattern() { yes "$1" | head -c "$2"; }
[ -c /dev/vsock ] && echo "vsock: present"
case " $(cat /proc/cmdline) " in
*" test=xfer "*)
	read -r _ # the host listens on port 5000
	if pattern guest-to-host 67108864 | socat -u STDIN VSOCK-CONNECT:2:5000; then
		echo "sent"
	else
		echo "sending failed"
	fi
	socat -u VSOCK-LISTEN:5001 STDOUT | sha256sum >/tmp/sum &
	sleep 1
	echo "listening"
	wait
	echo "received: $(cut -d' ' -f1 /tmp/sum)"
	read -r _ # the host listens on port 5002, for many connections
	i=0 ok=0
	while [ $i -lt 100 ]; do
		echo "connection $i" | socat -u STDIN VSOCK-CONNECT:2:5002 && ok=$((ok + 1))
		i=$((i + 1))
	done
	echo "connections: $ok"
	read -r _ # the host listens on port 5003 for a connection the guest keeps open
	sleep 600 | socat -u STDIN VSOCK-CONNECT:2:5003 &
	sleep 2
	echo "holding a connection"
	read -r _ # then the script ends: the guest reboots with it open
	;;
*" test=snap "*)
	# Holds a connection to the host, then waits for the host's cues: the
	# snapshot is taken meanwhile, and this goes on in a restored guest.
	read -r _ # the host listens on port 5005
	# It reads, so it hears at once when the connection is reset.
	(
		socat -u VSOCK-CONNECT:2:5005 STDOUT
		echo "the held connection ended"
	) &
	sleep 2
	echo "holding a connection"
	read -r _ # restored: the host listens on port 5006
	if echo "hello after the restore" | socat -u STDIN VSOCK-CONNECT:2:5006; then
		echo "sent after the restore"
	fi
	read -r _
	;;
*" test=hello "*)
	# The driver let go of the device and took it again: ember resets and
	# restarts it, and owes the driver a transport reset.
	if rmmod vmw_vsock_virtio_transport && insmod /lib/modules/vmw_vsock_virtio_transport.ko; then
		echo "driver reloaded"
	fi
	if echo "hello from the second guest" | socat -u STDIN VSOCK-CONNECT:2:5004; then
		echo "hello sent"
	fi
	;;
esac
