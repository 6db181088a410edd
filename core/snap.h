/* SPDX-License-Identifier: MIT */
/*
 * The snapshot file: what `migrate file:PATH` writes and `-incoming
 * file:PATH` reads. It holds a header, the machine's state as named
 * sections, and guest RAM:
 *
 *   offset 0            the header (struct snap_header), checksummed
 *   SNAP_STATE_OFF      sections: a 16-byte tag, a version, a length, the
 *                       bytes, padding to 8; checksummed as a whole
 *   a 2 MiB boundary    each RAM region's bytes, in order, at the offset its
 *                       header entry gives; pages of zeroes are holes
 *
 * RAM is placed so that a restore can map it from the file copy-on-write
 * (snap_in_map()): pages load when the guest touches them, and the cost of
 * a restore does not grow with RAM. For the same reason RAM carries no
 * checksum (checking it would read it all); the header says how long the
 * file must be, so a truncated file is still caught.
 *
 * The file is read as hostile: every offset, length and count in it is
 * checked before use, and what is read is a private copy.
 */
#ifndef EMBER_SNAP_H
#define EMBER_SNAP_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>

#define SNAP_VERSION 1
#define SNAP_STATE_OFF 4096ULL
#define SNAP_MAX_STATE (16U << 20) /* bytes of sections a reader accepts */
#define SNAP_MAX_SECTIONS 256
#define SNAP_MAX_REGIONS 4
#define SNAP_TAG_LEN 16
#define SNAP_RAM_ALIGN (2ULL << 20)
/*
 * How a snapshot file is created: new (never over an existing file), not
 * through a symbolic link. The sandbox lets the event loop open exactly this.
 */
#define SNAP_OPEN_FLAGS (O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW)

/* A guest RAM region: where the guest sees it and where ember maps it. */
struct snap_region {
	uint64_t gpa;
	uint64_t size; /* a multiple of the page size */
	void *host;
};

/* What writing cost, for the log and QMP's query-migrate. */
struct snap_stats {
	uint64_t ram_bytes;   /* RAM in the file, holes not counted */
	uint64_t zero_pages;  /* pages left as holes */
	uint64_t state_bytes; /* sections */
	uint64_t file_bytes;  /* the file's length */
};

/* --- writing -------------------------------------------------------------------------- */

struct snap_out;

int snap_out_create(struct snap_out **out);
void snap_out_destroy(struct snap_out *o);
/*
 * Adds a section: `tag` (at most SNAP_TAG_LEN - 1 characters, unique in the
 * file), its format's `version` and its bytes. 0, -EINVAL (bad or repeated
 * tag) or -ENOMEM / -EFBIG (past SNAP_MAX_STATE).
 */
int snap_out_add(struct snap_out *o, const char *tag, uint32_t version, const void *data,
		 uint32_t len);
/*
 * Writes the file to `fd` (empty, opened for writing): RAM first, then the
 * sections, then the header, so that a file cut short has no valid header.
 * Ends with fdatasync(). 0 or -errno.
 */
int snap_out_write(struct snap_out *o, int fd, const struct snap_region *regions,
		   unsigned int nr_regions, struct snap_stats *stats);

/* --- reading -------------------------------------------------------------------------- */

struct snap_in;

/*
 * Reads and checks the header and the sections of the file open at `fd`
 * (kept open until snap_in_close()). 0, or -errno with a message in `err`:
 * -EPROTO for a version this ember cannot read, -EBADMSG for a file that is
 * not a snapshot, is cut short or fails its checksum.
 */
int snap_in_open(struct snap_in **out, int fd, char *err, size_t errlen);
void snap_in_close(struct snap_in *in);

/*
 * Copies section `tag` into `buf` when it is there with exactly `version`
 * and `len` bytes: 0, -ENOENT (absent), -EPROTO (another version) or
 * -EBADMSG (another length).
 */
int snap_in_get(struct snap_in *in, const char *tag, uint32_t version, void *buf, uint32_t len);
/*
 * A section of variable length: its bytes (valid until snap_in_close())
 * and length through *len. NULL with errno-style *err as snap_in_get().
 */
const void *snap_in_find(struct snap_in *in, const char *tag, uint32_t version, uint32_t *len,
			 int *err);
/* The tag of a section nothing asked for (a file from a richer machine), or NULL. */
const char *snap_in_unread(const struct snap_in *in);

/* The RAM regions the file holds (up to SNAP_MAX_REGIONS; host is NULL). */
unsigned int snap_in_regions(const struct snap_in *in, struct snap_region *out);
/*
 * Maps region `index` of the file over `host` (its size bytes, page
 * aligned), private and copy-on-write: the guest's writes never reach the
 * file. 0 or -errno.
 */
int snap_in_map(struct snap_in *in, unsigned int index, void *host);

#endif
