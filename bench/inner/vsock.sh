# The vsock benchmark guest's script: vsockbench against the host's server
# (CID 2, port 5000), each measurement on a line of its own for the host to
# read: 5 s of the guest sending, 5 s of the host sending, 2000 one-byte
# round trips, each followed by the virtio interrupts the guest took during
# it ("vsockbench irqs MODE N"), which the VMM delivered. A measurement
# that fails fails the script ("inner: exit 1").
# irqs: the virtio interrupts so far
irqs() {
	awk '/virtio/ { for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) t += $i }
		END { print t + 0 }' /proc/interrupts
}
status=0
for m in "send 2 5000 5" "recv 2 5000 5" "ping 2 5000 2000"; do
	before=$(irqs)
	# shellcheck disable=SC2086 # mode and arguments are words
	/bin/vsockbench $m || { echo "vsockbench $m: failed"; status=1; }
	echo "vsockbench irqs ${m%% *} $(($(irqs) - before))"
done
exit $status
