// SPDX-License-Identifier: MIT
#include "config.h"

#include "bios.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE 4096ULL

int bios_load(struct bios_image *img, const char *path, char *err, size_t err_len)
{
	struct stat st;
	size_t done = 0;
	int fd, ret;

	memset(img, 0, sizeof(*img));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, err_len, "cannot open BIOS image %s: %s", path, strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		snprintf(err, err_len, "cannot stat BIOS image %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		snprintf(err, err_len, "BIOS image %s is not a regular file", path);
		goto out;
	}
	if (st.st_size == 0 || (uint64_t)st.st_size > BIOS_MAX_SIZE) {
		ret = -EFBIG;
		snprintf(err, err_len, "BIOS image %s is %lld bytes; it must be 1 byte to %llu MiB",
			 path, (long long)st.st_size, BIOS_MAX_SIZE >> 20);
		goto out;
	}
	img->size = (size_t)st.st_size;
	img->data = malloc(img->size);
	if (!img->data) {
		ret = -ENOMEM;
		snprintf(err, err_len, "no memory for BIOS image %s", path);
		goto out;
	}
	while (done < img->size) {
		ssize_t n = read(fd, img->data + done, img->size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			snprintf(err, err_len, "reading BIOS image %s: %s", path,
				 n < 0 ? strerror(errno) : "file shrank while being read");
			bios_free(img);
			goto out;
		}
		done += (size_t)n;
	}
	ret = 0;
out:
	close(fd);
	return ret;
}

void bios_free(struct bios_image *img)
{
	free(img->data);
	memset(img, 0, sizeof(*img));
}

uint64_t bios_base(const struct bios_image *img)
{
	uint64_t span = (img->size + PAGE - 1) & ~(PAGE - 1);

	return BIOS_TOP - span;
}
