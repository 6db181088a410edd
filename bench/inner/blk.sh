# The disk benchmark guest's script: blkbench on /dev/vda, each measurement
# on a line of its own for the host to read.
for m in "seqread 64" "seqwrite 64" "randread 1 4" "randread 16 4"; do
	# shellcheck disable=SC2086 # mode and arguments are words
	/bin/blkbench /dev/vda $m || echo "blkbench $m: failed"
done
