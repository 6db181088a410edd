// SPDX-License-Identifier: MIT
#include "config.h"

#include "bios.h"
#include "core/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE 4096ULL

int bios_load(struct bios_image *img, const char *path, char *err, size_t err_len)
{
	int ret;

	memset(img, 0, sizeof(*img));
	ret = file_read_all(path, BIOS_MAX_SIZE, &img->data, &img->size);
	if (ret == -EFBIG || (ret == 0 && img->size == 0)) {
		bios_free(img);
		snprintf(err, err_len, "BIOS image %s must be 1 byte to %llu MiB", path,
			 BIOS_MAX_SIZE >> 20);
		return -EFBIG;
	}
	if (ret < 0)
		snprintf(err, err_len, "BIOS image %s: %s", path, file_strerror(ret));
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
