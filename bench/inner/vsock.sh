# The vsock benchmark guest's script: vsockbench against the host's server
# (CID 2, port 5000), each measurement on a line of its own for the host to
# read: 5 s of the guest sending, 5 s of the host sending, 2000 one-byte
# round trips. A measurement that fails fails the script ("inner: exit 1").
status=0
for m in "send 2 5000 5" "recv 2 5000 5" "ping 2 5000 2000"; do
	# shellcheck disable=SC2086 # mode and arguments are words
	/bin/vsockbench $m || { echo "vsockbench $m: failed"; status=1; }
done
exit $status
