# The disk benchmark guest's script: blkbench on /dev/vda, each measurement
# on a line of its own for the host to read. With bench=read on the kernel
# command line (a read-only disk), the reads only; with bench=write, the
# writes only; with bench=none, nothing (a boot to be timed); with
# bench=seqread, seqwrite, qd1 or qd16, that measurement alone.
modes='"seqread 64" "seqwrite 64" "randread 1 4" "randread 16 4"'
case " $(cat /proc/cmdline) " in
*" bench=read "*) modes='"seqread 64" "randread 1 4" "randread 16 4"' ;;
*" bench=write "*) modes='"seqwrite 64" "randwrite 1 4" "randwrite 16 4"' ;;
*" bench=none "*) modes= ;;
*" bench=seqread "*) modes='"seqread 64"' ;;
*" bench=seqwrite "*) modes='"seqwrite 64"' ;;
*" bench=qd1 "*) modes='"randread 1 4"' ;;
*" bench=qd16 "*) modes='"randread 16 4"' ;;
esac
eval "set -- $modes"
# A measurement that fails fails the script ("inner: exit 1"): the host fails the round.
status=0
for m in "$@"; do
	# shellcheck disable=SC2086 # mode and arguments are words
	/bin/blkbench /dev/vda $m || { echo "blkbench $m: failed"; status=1; }
done
exit $status
