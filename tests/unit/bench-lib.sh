#!/bin/sh
# bench/lib.sh, which every benchmark uses: the order of the VMMs, recorded
# values, medians, spreads, ratios, and the exit status after a failure.
# Plain POSIX sh, as the harness's busybox runs the benchmarks.
set -u
srcdir=${EMBER_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=tests/unit/shcheck.sh
. "$srcdir/tests/unit/shcheck.sh"
cd "$work" || exit 99

# shellcheck source=bench/lib.sh
. "$srcdir/bench/lib.sh"
BENCH_SEED=42
bench_start 4 >start.txt
check "the seed is printed" "$(cat start.txt)" "seed: 42 (BENCH_SEED=42 repeats these orders)"

check "an order repeats with its seed" "$(bench_order 3 a b c d)" "$(bench_order 3 a b c d)"
check "an order is a permutation" "$(bench_order 3 a b c d | tr ' ' '\n' | sort | tr '\n' ' ')" "a b c d "
firsts=$(for r in 0 1 2 3 4 5 6 7 8 9 10 11; do bench_order $r a b c | cut -d' ' -f1; done | sort -u | wc -l)
check "no name goes first in every round" "$([ "$firsts" -ge 2 ] && echo yes)" yes

round=0
for v in 30 10 20; do
	bench_record x m $v
	round=$((round + 1))
done
check "median of an odd count" "$(bench_median x m)" 20
round=0
bench_record z m 1
round=2
bench_record z m 4
check "median of an even count" "$(bench_median z m)" 2.5
check "every round, a failed one as -" "$(bench_rounds_of z m)" "1 - 4 - "
check "every round of a name with none" "$(bench_rounds_of y n)" "- - - - "
check "median of nothing" "$(bench_median y m)" n/a
check "spread" "$(bench_spread x m)" "-50.0% +50.0%"
check "ratio, unrounded inputs" "$(bench_ratio 0.74 0.51)" 1.451
check "ratio with no figure" "$(bench_ratio n/a 3)" n/a
check "ratio over zero" "$(bench_ratio 1 0)" n/a
check "the report" "$(bench_report m MB/s x z)" "m          MB/s  x 20 z 2.5  x/z 8.000
  x:           30 10 20 - (spread -50.0% +50.0%)
  z:           1 - 4 - (spread -60.0% +60.0%)"

bench_command qemu /bin/qemu -M microvm -append "'quiet'"
bench_command qemu /bin/qemu -M pc
(bench_command ember /bin/ember -m 256)
(bench_end) >end.txt
check "a clean run exits 0" $? 0
check "the end prints each command line, the first given" "$(cat end.txt)" "command ember: /bin/ember -m 256
command qemu: /bin/qemu -M microvm -append 'quiet'"

for bad in "" abc 1.2.3 . -5; do
	bench_record x m "$bad" >>fail.txt
	check "'$bad' is refused" $? 1
done
check "a refused value moves nothing" "$(bench_median x m)" 20
bench_fail "ember, round 2: status 1" >fail.txt
check "a failure is reported" "$(cat fail.txt)" "FAILED: ember, round 2: status 1"
(bench_end) >end.txt
check "a failed run exits 1" $? 1
check "the end lists the failures" "$(grep -c 'status 1' end.txt)" 1
check "the end counts the failures" "$(sed -n 3p end.txt)" "the benchmark failed: 6 failure(s):"

printf 'blkbench seqread 128 MiB in 0.512 s: 262.1 MB/s\r\nblkbench randread qd16 4096 reads in 1.000 s: 4096 IOPS\r\n' >guest.txt
check "blkbench's rate is read" "$(blkbench_value seqread guest.txt)" 262.1
check "blkbench's IOPS are read" "$(blkbench_value qd16 guest.txt)" 4096
check "a mode blkbench never printed has no figure" "$(blkbench_value seqwrite guest.txt)" ""

cat >smaps <<'SMAPS'
00400000-00500000 r-xp 00000000 08:01 12 /bin/vmm
Size:               1024 kB
Rss:                 800 kB
Pss:                 400 kB
7f0000000000-7f0010000000 rw-p 00000000 00:00 0
Size:             262144 kB
Rss:               90000 kB
Pss:               90000 kB
7fff00000000-7fff00021000 rw-p 00000000 00:00 0 [stack]
Size:                132 kB
Rss:                  56 kB
Pss:                  56 kB
SMAPS
check "memory outside guest RAM, Rss" "$(bench_outside_ram smaps Rss 256)" 856
check "memory outside guest RAM, Pss" "$(bench_outside_ram smaps Pss 256)" 456
check "a smaller guest's RAM counts as outside a larger one" "$(bench_outside_ram smaps Rss 512)" 90856

DATA=/d
# shellcheck source=bench/qemu.sh
. "$srcdir/bench/qemu.sh"
check "ember's guest reboots its own way" "$(guest_cmdline ember quiet)" quiet
check "QEMU's guest reboots by triple fault" "$(guest_cmdline qemu quiet)" "quiet reboot=t"
ember_runs="on off"
check "a benchmark names ember's runs" "$(guest_cmdline off quiet)/$(guest_cmdline ember quiet)" \
	"quiet/quiet reboot=t"
check "QEMU at its best" "$(qemu_args best | grep -c -- 'rtc=off -bios qboot.rom -accel kvm,kernel-irqchip=split -global virtio-mmio.force-legacy=false')" 1
check "QEMU at its best for a boot without devices" \
	"$(qemu_args best on on | grep -c 'rtc=on -bios qboot.rom -accel kvm,kernel-irqchip=on ')" 1
check "QEMU at its best with its RTC" "$(qemu_args best split on | grep -c 'rtc=on -bios qboot.rom -accel kvm,kernel-irqchip=split ')" 1
check "QEMU at its defaults" "$(qemu_args default | sed 's/.* -M/-M/')" "-M microvm -accel kvm"
check "an unknown configuration is refused" "$(qemu_args fast 2>&1 >/dev/null)" "qemu_args: no configuration 'fast'"

shcheck_end
