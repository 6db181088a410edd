// SPDX-License-Identifier: MIT
/*
 * looplat [-w] [-r ROUNDS] [-a io_uring|threads] [-p PERIOD_US]
 * looplat -m PATH      (only writes the discard's image, e.g. for qemu-img check)
 *
 * How late a handler on the event loop runs while virtio-blk carries out
 * one large request on a qcow2 image: by default a 2 GiB DISCARD with
 * 512-byte clusters, every cluster allocated (the image is built here,
 * sparse: about 45 MiB on disk); with -w a 126 MiB WRITE (126 buffers of
 * 1 MiB, the most one request carries) into an empty 2 GiB image with
 * 64 KiB clusters, every cluster of it allocated on the way. A timerfd
 * firing every PERIOD_US (1000) stands for the console's input handler,
 * which shares the loop with the disks: its lateness is the time from the
 * earliest expiration not yet served to the handler's run. Each call into
 * the device (kick, backend event, resume) is timed too, in wall and in
 * thread CPU time: on a busy host the wall figures include time the loop's
 * thread spent preempted, the CPU figures only the device's work.
 *
 * Host side only, no KVM: the real virtio-blk device, disk engine, qcow2
 * code and event loop, with the driver's side played by the unit tests'
 * ring builder and the kick delivered through an eventfd, as ioeventfd
 * does. What is measured is a loop handler's lateness on the host, not a
 * guest's echo (which adds the guest's own scheduling and the UART).
 *
 * Built with -DLOOPLAT_NO_RESUME, it compiles against a virtio-blk without
 * a resume event (the tree before the per-turn budget), for comparison.
 */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "block/disk.h"
#include "core/evloop.h"
#include "tests/unit/ringbuilder.h"
#include "tests/unit/scratch.h"
#include "virtio/blk.h"
#include "virtio/virtq.h"

#define CLUSTER_BITS 9
#define CLUSTER (1ULL << CLUSTER_BITS)
#define DISK_SIZE (2ULL << 30)
#define L2_ENTRIES (CLUSTER / 8)
#define REFS_PER_BLOCK (CLUSTER / 2) /* 16-bit refcounts */
#define COPIED (1ULL << 63)
#define RAM_BASE 0x100000ULL
#define RAM_SIZE (1ULL << 20)
#define WRITE_BUFS BLK_SEG_MAX
#define WRITE_BUF BLK_SIZE_MAX
#define WRITE_RAM_SIZE ((uint64_t)WRITE_BUFS * WRITE_BUF + (1ULL << 20))
#define WRITE_CLUSTER_BITS 16
#define MAX_SAMPLES (1U << 20)

static void die(const char *what, int err)
{
	fprintf(stderr, "looplat: %s: %s\n", what, strerror(err));
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, 8);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, 4);
}

static void write_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t w = pwrite(fd, p, len, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("writing the image", w < 0 ? errno : EIO);
		p += w;
		len -= (size_t)w;
		off += (uint64_t)w;
	}
}

/*
 * A qcow2 v3 image of DISK_SIZE with 512-byte clusters, every guest cluster
 * allocated (refcount 1, so a discard frees it): header, L1, refcount
 * table, refcount blocks, L2 tables, then the data clusters, left as a hole.
 */
static void make_image(const char *path)
{
	const uint64_t guest = DISK_SIZE / CLUSTER, l2s = guest / L2_ENTRIES;
	const uint64_t l1_clusters = l2s * 8 / CLUSTER;
	uint64_t rb = 0, rt = 0, total, l1_at = 1, rt_at, rb_at, l2_at, data_at;
	uint8_t *buf, head[CLUSTER] = { 0 };
	size_t chunk = 1 << 20;
	int fd;

	/* The refcount blocks count themselves and the table: find the fixed point. */
	for (;;) {
		uint64_t n = 1 + l1_clusters + rt + rb + l2s + guest;
		uint64_t nrb = (n + REFS_PER_BLOCK - 1) / REFS_PER_BLOCK;
		uint64_t nrt = (nrb * 8 + CLUSTER - 1) / CLUSTER;

		if (nrb == rb && nrt == rt) {
			total = n;
			break;
		}
		rb = nrb;
		rt = nrt;
	}
	rt_at = l1_at + l1_clusters;
	rb_at = rt_at + rt;
	l2_at = rb_at + rb;
	data_at = l2_at + l2s;

	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die(path, errno);
	if (ftruncate(fd, (off_t)(total * CLUSTER)) < 0)
		die("sizing the image", errno);
	put_be32(head, 0x514649fb);
	put_be32(head + 4, 3);
	put_be32(head + 20, CLUSTER_BITS);
	put_be64(head + 24, DISK_SIZE);
	put_be32(head + 36, (uint32_t)l2s);
	put_be64(head + 40, l1_at * CLUSTER);
	put_be64(head + 48, rt_at * CLUSTER);
	put_be32(head + 56, (uint32_t)rt);
	put_be32(head + 96, 4);	   /* refcount_order: 16 bits */
	put_be32(head + 100, 104); /* header_length; no extensions */
	write_all(fd, head, sizeof(head), 0);

	buf = malloc(chunk);
	if (!buf)
		die("allocating", ENOMEM);
	/* L1, refcount table and L2 tables: arrays of big-endian offsets, written by the MiB. */
	for (uint64_t i = 0; i < l2s; i += chunk / 8) {
		for (uint64_t k = 0; k < chunk / 8 && i + k < l2s; k++)
			put_be64(buf + k * 8, ((l2_at + i + k) * CLUSTER) | COPIED);
		write_all(fd, buf, (size_t)((l2s - i < chunk / 8 ? l2s - i : chunk / 8) * 8),
			  l1_at * CLUSTER + i * 8);
	}
	memset(buf, 0, chunk);
	for (uint64_t k = 0; k < rb; k++)
		put_be64(buf + k * 8, (rb_at + k) * CLUSTER);
	write_all(fd, buf, (size_t)(rb * 8), rt_at * CLUSTER);
	for (uint64_t i = 0; i < guest; i += chunk / 8) {
		for (uint64_t k = 0; k < chunk / 8; k++)
			put_be64(buf + k * 8, ((data_at + i + k) * CLUSTER) | COPIED);
		write_all(fd, buf, chunk, l2_at * CLUSTER + i * 8);
	}
	/* Every cluster up to the end has one reference. */
	for (uint64_t c = 0; c < total; c += chunk / 2) {
		uint64_t n = total - c < chunk / 2 ? total - c : chunk / 2;

		for (uint64_t k = 0; k < n; k++) {
			uint16_t one = htobe16(1);

			memcpy(buf + k * 2, &one, 2);
		}
		write_all(fd, buf, (size_t)(n * 2), rb_at * CLUSTER + c * 2);
	}
	free(buf);
	if (close(fd) < 0)
		die("closing the image", errno);
}

/*
 * An empty qcow2 v3 image of DISK_SIZE with 64 KiB clusters: header, L1
 * (all zero), refcount table and one refcount block, which counts those
 * four clusters.
 */
static void make_empty_image(const char *path)
{
	const uint64_t cs = 1ULL << WRITE_CLUSTER_BITS;
	const uint64_t l1_entries = DISK_SIZE / (cs * (cs / 8));
	uint8_t *c = calloc(4, cs);
	int fd;

	if (!c)
		die("allocating", ENOMEM);
	put_be32(c, 0x514649fb);
	put_be32(c + 4, 3);
	put_be32(c + 20, WRITE_CLUSTER_BITS);
	put_be64(c + 24, DISK_SIZE);
	put_be32(c + 36, (uint32_t)l1_entries);
	put_be64(c + 40, cs);	  /* L1: cluster 1 */
	put_be64(c + 48, 2 * cs); /* refcount table: cluster 2 */
	put_be32(c + 56, 1);
	put_be32(c + 96, 4);
	put_be32(c + 100, 104);
	put_be64(c + 2 * cs, 3 * cs); /* its one block: cluster 3 */
	for (unsigned int k = 0; k < 4; k++) {
		uint16_t one = htobe16(1);

		memcpy(c + 3 * cs + k * 2, &one, 2);
	}
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die(path, errno);
	write_all(fd, c, 4 * cs, 0);
	if (close(fd) < 0)
		die("closing the image", errno);
	free(c);
}

struct bench {
	struct rb rb;
	struct fake_transport tr;
	struct blk *blk;
	const struct virtio_device_ops *ops;
	struct disk *disk;
	struct evloop *loop;
	int kickfd, timer;
	uint64_t period_ns, next_due;
	uint64_t *late;
	unsigned int nlate;
	uint64_t kicked_at, done_at;
	unsigned int device_turns;
	uint64_t turn_wall_max, turn_started, turn_cpu_started;
	uint64_t *turn_cpu;
	unsigned int nturn_cpu;
};

static void turn_start(struct bench *b)
{
	b->device_turns++;
	b->turn_started = now_ns();
	b->turn_cpu_started = cpu_ns();
}

static void turn_end(struct bench *b)
{
	uint64_t wall = now_ns() - b->turn_started, cpu = cpu_ns() - b->turn_cpu_started;

	if (wall > b->turn_wall_max)
		b->turn_wall_max = wall;
	if (b->nturn_cpu < MAX_SAMPLES)
		b->turn_cpu[b->nturn_cpu++] = cpu;
}

static void on_kick(void *opaque, uint32_t events)
{
	struct bench *b = opaque;
	uint64_t v;

	(void)events;
	if (read(b->kickfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		die("reading the kick", errno);
	turn_start(b);
	b->ops->notify(b->blk, 0);
	turn_end(b);
}

static void on_disk(void *opaque, uint32_t events)
{
	struct bench *b = opaque;

	(void)events;
	turn_start(b);
	blk_backend_event(b->blk);
	turn_end(b);
}

#ifndef LOOPLAT_NO_RESUME
static void on_resume(void *opaque, uint32_t events)
{
	struct bench *b = opaque;

	(void)events;
	turn_start(b);
	blk_resume(b->blk);
	turn_end(b);
}
#endif

/* The console's stand-in: how long the oldest expiration not yet served waited. */
static void on_timer(void *opaque, uint32_t events)
{
	struct bench *b = opaque;
	uint64_t now = now_ns(), n;

	(void)events;
	if (read(b->timer, &n, sizeof(n)) != sizeof(n))
		return;
	if (b->nlate < MAX_SAMPLES)
		b->late[b->nlate++] = now > b->next_due ? now - b->next_due : 0;
	b->next_due += n * b->period_ns;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct result {
	double request_ms, median_us, p99_us, max_us, turn_wall_us;
	double turn_cpu_median_us, turn_cpu_p99_us, turn_cpu_max_us;
	unsigned int samples, turns;
};

static void round_run(const char *path, enum disk_aio aio, uint64_t period_ns, bool write_mode,
		      struct result *res)
{
	struct disk_config dc = { .path = path, .format = DISK_FORMAT_QCOW2, .aio = aio };
	struct virtio_transport tr;
	struct blk_config cfg = { .name = "looplat" };
	struct virtio_device_info info;
	struct virtio_blk_discard_write_zeroes seg = {
		.sector = 0,
		.num_sectors = htole32(BLK_MAX_DISCARD_SECTORS),
	};
	struct virtio_blk_outhdr hdr = { .type = htole32(write_mode ? VIRTIO_BLK_T_OUT
								    : VIRTIO_BLK_T_DISCARD) };
	static struct rb_seg segs[WRITE_BUFS + 2];
	unsigned int nsegs = write_mode ? WRITE_BUFS + 2 : 3;
	struct virtq_config qc;
	struct bench b = { .period_ns = period_ns };
	char err[256];
	uint64_t one = 1;
	uint32_t id, len;
	uint8_t *status;
	int ret;

	ret = disk_open(&b.disk, &dc, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "looplat: %s\n", err);
		exit(1);
	}
	if (rb_init(&b.rb, RAM_BASE, write_mode ? WRITE_RAM_SIZE : RAM_SIZE, 256) < 0 ||
	    virtq_create(&b.tr.q[0], &b.rb.mem, NULL))
		die("setting up the queue", ENOMEM);
	qc = rb_config(&b.rb, true);
	qc.max_size = BLK_QUEUE_SIZE;
	if (virtq_setup(b.tr.q[0], &qc) < 0)
		die("setting up the queue", EINVAL);
	blk_backend_disk(&cfg.backend, b.disk);
	ret = blk_create(&b.blk, &cfg);
	if (ret < 0)
		die("creating the device", -ret);
	tr = (struct virtio_transport){ .ops = &fake_transport_ops, .t = &b.tr };
	blk_device(b.blk, &info, &b.ops);
	blk_attach(b.blk, &tr);
	ret = b.ops->activate(b.blk, info.features);
	if (ret < 0)
		die("starting the device", -ret);

	b.late = malloc(MAX_SAMPLES * sizeof(*b.late));
	b.turn_cpu = malloc(MAX_SAMPLES * sizeof(*b.turn_cpu));
	b.kickfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!b.late || !b.turn_cpu || b.kickfd < 0 || evloop_create(&b.loop) < 0)
		die("setting up the loop", errno);
	if (evloop_add(b.loop, b.kickfd, EPOLLIN, on_kick, &b) < 0 ||
	    evloop_add(b.loop, disk_event_fd(b.disk), EPOLLIN, on_disk, &b) < 0)
		die("adding handlers", EINVAL);
#ifndef LOOPLAT_NO_RESUME
	if (evloop_add(b.loop, blk_resume_fd(b.blk), EPOLLIN, on_resume, &b) < 0)
		die("adding handlers", EINVAL);
#endif

	/* The driver's side: one DISCARD of the whole disk, or one WRITE as large as they come. */
	memset(segs, 0, sizeof(segs));
	segs[0] = (struct rb_seg){ .gpa = rb_alloc(&b.rb, 16, 16), .len = 16 };
	memcpy(rb_host(&b.rb, segs[0].gpa), &hdr, sizeof(hdr));
	if (write_mode) {
		for (unsigned int i = 1; i <= WRITE_BUFS; i++) {
			segs[i] = (struct rb_seg){ .gpa = rb_alloc(&b.rb, WRITE_BUF, 4096),
						   .len = WRITE_BUF };
			memset(rb_host(&b.rb, segs[i].gpa), (int)i, WRITE_BUF);
		}
	} else {
		segs[1] = (struct rb_seg){ .gpa = rb_alloc(&b.rb, 16, 16), .len = 16 };
		memcpy(rb_host(&b.rb, segs[1].gpa), &seg, sizeof(seg));
	}
	segs[nsegs - 1] = (struct rb_seg){ .gpa = rb_alloc(&b.rb, 1, 1), .len = 1, .write = true };
	rb_publish(&b.rb, rb_add_chain(&b.rb, segs, nsegs));
	status = rb_host(&b.rb, segs[nsegs - 1].gpa);
	*status = 0xee;

	b.timer = evloop_add_timer(b.loop, period_ns, period_ns, on_timer, &b);
	if (b.timer < 0)
		die("adding the timer", -b.timer);
	b.next_due = now_ns() + period_ns;
	/* A few idle periods first, then the kick, as ioeventfd would deliver it. */
	while (b.nlate < 5)
		if (evloop_run_once(b.loop, -1) < 0)
			die("running the loop", errno);
	b.nlate = 0;
	b.kicked_at = now_ns();
	if (write(b.kickfd, &one, sizeof(one)) != sizeof(one))
		die("kicking", errno);
	while (!rb_get_used(&b.rb, &id, &len))
		if (evloop_run_once(b.loop, -1) < 0)
			die("running the loop", errno);
	b.done_at = now_ns();
	/* The lateness of the expiration the completion itself may have held up. */
	evloop_run_once(b.loop, (int)(period_ns / 1000000) + 2);
	if (*status != VIRTIO_BLK_S_OK) {
		fprintf(stderr, "looplat: the %s failed (status %u)\n",
			write_mode ? "write" : "discard", *status);
		exit(1);
	}

	qsort(b.late, b.nlate, sizeof(*b.late), cmp_u64);
	qsort(b.turn_cpu, b.nturn_cpu, sizeof(*b.turn_cpu), cmp_u64);
	res->request_ms = (double)(b.done_at - b.kicked_at) / 1e6;
	res->samples = b.nlate;
	res->turns = b.device_turns;
	res->median_us = b.nlate ? (double)b.late[b.nlate / 2] / 1e3 : 0;
	res->p99_us = b.nlate ? (double)b.late[(b.nlate * 99) / 100] / 1e3 : 0;
	res->max_us = b.nlate ? (double)b.late[b.nlate - 1] / 1e3 : 0;
	res->turn_wall_us = (double)b.turn_wall_max / 1e3;
	res->turn_cpu_median_us = (double)b.turn_cpu[b.nturn_cpu / 2] / 1e3;
	res->turn_cpu_p99_us = (double)b.turn_cpu[(b.nturn_cpu * 99) / 100] / 1e3;
	res->turn_cpu_max_us = (double)b.turn_cpu[b.nturn_cpu - 1] / 1e3;

	evloop_destroy(b.loop);
	close(b.timer);
	close(b.kickfd);
	free(b.late);
	free(b.turn_cpu);
	b.ops->reset(b.blk);
	blk_destroy(b.blk);
	if (disk_close(b.disk) < 0)
		die("closing the disk", EIO);
	virtq_destroy(b.tr.q[0]);
	rb_destroy(&b.rb);
}

int main(int argc, char **argv)
{
	enum disk_aio aio = DISK_AIO_IO_URING;
	unsigned int rounds = 3;
	uint64_t period_us = 1000;
	bool write_mode = false;
	char dir[256], path[300];
	int opt, ret;

	while ((opt = getopt(argc, argv, "wr:a:p:m:")) != -1) {
		switch (opt) {
		case 'm':
			make_image(optarg);
			return 0;
		case 'w':
			write_mode = true;
			break;
		case 'r':
			rounds = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'a':
			aio = strcmp(optarg, "threads") == 0 ? DISK_AIO_THREADS : DISK_AIO_IO_URING;
			break;
		case 'p':
			period_us = strtoull(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: looplat [-w] [-r ROUNDS] [-a io_uring|threads] "
					"[-p PERIOD_US] | looplat -m PATH\n");
			return 2;
		}
	}
	if (!rounds || period_us < 100) {
		fprintf(stderr, "looplat: at least one round, and a period of 100 us or more\n");
		return 2;
	}
	ret = scratch_dir(dir, sizeof(dir), "looplat-");
	if (ret < 0)
		die("making a scratch directory", -ret);
	snprintf(path, sizeof(path), "%s/looplat.qcow2", dir);
	if (write_mode)
		printf("# 126 MiB WRITE into an empty qcow2 v3 image, 64 KiB clusters");
	else
		printf("# 2 GiB DISCARD, qcow2 v3, 512-byte clusters all allocated");
	printf("; timer every %llu us\n", (unsigned long long)period_us);
	printf("# lateness of the timer's handler (late_*), and each call into the device "
	       "(turn_*)\n");
	printf("# round request_ms  turns samples late_median_us late_p99_us late_max_us "
	       "turn_wall_max_us turn_cpu_median_us turn_cpu_p99_us turn_cpu_max_us\n");
	for (unsigned int r = 1; r <= rounds; r++) {
		struct result res;

		if (write_mode)
			make_empty_image(path);
		else
			make_image(path);
		round_run(path, aio, period_us * 1000, write_mode, &res);
		printf("%7u %10.1f %6u %7u %14.1f %11.1f %11.1f %16.1f %18.1f %15.1f %15.1f\n", r,
		       res.request_ms, res.turns, res.samples, res.median_us, res.p99_us,
		       res.max_us, res.turn_wall_us, res.turn_cpu_median_us, res.turn_cpu_p99_us,
		       res.turn_cpu_max_us);
		fflush(stdout);
	}
	unlink(path);
	rmdir(dir);
	return 0;
}
