// SPDX-License-Identifier: MIT
#include "config.h"

#include "acpi_pm.h"
#include "core/bus.h"

#include <errno.h>
#include <string.h>

void acpi_pm_init(struct acpi_pm *pm, uint8_t s5_typ, const struct acpi_pm_host *host)
{
	memset(pm, 0, sizeof(*pm));
	pm->host = *host;
	pm->s5_typ = s5_typ;
	pm->cnt = ACPI_PM1_SCI_EN;
	pthread_mutex_init(&pm->lock, NULL);
}

void acpi_pm_destroy(struct acpi_pm *pm)
{
	pthread_mutex_destroy(&pm->lock);
}

/* Called with the lock held, after sts or en changed: the SCI follows them. */
static void sci_update(struct acpi_pm *pm)
{
	bool level = (pm->sts & pm->en) != 0;

	if (level == pm->sci)
		return;
	pm->sci = level;
	if (pm->host.sci_set)
		pm->host.sci_set(pm->host.sci_opaque, level);
}

/* Byte `offset` of the 4-byte event block: PM1_STS (0-1), PM1_EN (2-3). */
static uint64_t evt_read(void *opaque, uint64_t offset, unsigned int size)
{
	struct acpi_pm *pm = opaque;
	uint32_t both;

	pthread_mutex_lock(&pm->lock);
	both = pm->sts | (uint32_t)pm->en << 16;
	pthread_mutex_unlock(&pm->lock);
	return (both >> (8 * offset)) & (size == 1 ? 0xff : 0xffff);
}

static void evt_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
	struct acpi_pm *pm = opaque;
	uint32_t mask = (size == 1 ? 0xffU : 0xffffU) << (8 * offset);
	uint32_t v = (uint32_t)(value << (8 * offset)) & mask;

	pthread_mutex_lock(&pm->lock);
	/* Status bits clear when written with 1; enable bits are plain storage. */
	pm->sts &= (uint16_t)~v;
	pm->en = (uint16_t)((pm->en & ~(mask >> 16)) | (v >> 16));
	sci_update(pm);
	pthread_mutex_unlock(&pm->lock);
}

static uint64_t cnt_read(void *opaque, uint64_t offset, unsigned int size)
{
	struct acpi_pm *pm = opaque;
	uint16_t cnt;

	pthread_mutex_lock(&pm->lock);
	cnt = pm->cnt;
	pthread_mutex_unlock(&pm->lock);
	return (cnt >> (8 * offset)) & (size == 1 ? 0xff : 0xffff);
}

static void cnt_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
	struct acpi_pm *pm = opaque;
	uint16_t mask = (uint16_t)((size == 1 ? 0xffU : 0xffffU) << (8 * offset));
	uint16_t v = (uint16_t)((value << (8 * offset)) & mask);
	uint16_t cnt;
	bool off;

	pthread_mutex_lock(&pm->lock);
	cnt = (uint16_t)((pm->cnt & ~mask) | v);
	off = (cnt & ACPI_PM1_SLP_EN) &&
	      ((cnt & ACPI_PM1_SLP_TYP_MASK) >> ACPI_PM1_SLP_TYP_SHIFT) == pm->s5_typ;
	/* SCI_EN stays set: there is no legacy mode to go back to. */
	pm->cnt = (uint16_t)((cnt & ~ACPI_PM1_SLP_EN) | ACPI_PM1_SCI_EN);
	pthread_mutex_unlock(&pm->lock);
	if (off)
		pm->host.power_off(pm->host.opaque);
}

static uint64_t reset_read(void *opaque, uint64_t offset, unsigned int size)
{
	(void)opaque;
	(void)offset;
	(void)size;
	return 0;
}

static void reset_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
	struct acpi_pm *pm = opaque;

	(void)offset;
	(void)size;
	if (value == ACPI_PM_RESET_VALUE && pm->host.reset)
		pm->host.reset(pm->host.opaque);
}

bool acpi_pm_power_button(struct acpi_pm *pm)
{
	bool heard;

	pthread_mutex_lock(&pm->lock);
	pm->sts |= ACPI_PM1_PWRBTN;
	heard = pm->en & ACPI_PM1_PWRBTN;
	sci_update(pm);
	pthread_mutex_unlock(&pm->lock);
	return heard;
}

void acpi_pm_save(struct acpi_pm *pm, struct acpi_pm_state *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&pm->lock);
	out->sts = pm->sts;
	out->en = pm->en;
	out->cnt = pm->cnt;
	out->sci = pm->sci;
	pthread_mutex_unlock(&pm->lock);
}

int acpi_pm_restore(struct acpi_pm *pm, const struct acpi_pm_state *st)
{
	/* Status bits are only ever set by the power button; cnt_write() keeps these two. */
	if (st->pad[0] || (st->sts & ~ACPI_PM1_PWRBTN) || !(st->cnt & ACPI_PM1_SCI_EN) ||
	    (st->cnt & ACPI_PM1_SLP_EN) || st->sci != ((st->sts & st->en) != 0))
		return -EINVAL;
	pthread_mutex_lock(&pm->lock);
	pm->sts = st->sts;
	pm->en = st->en;
	pm->cnt = st->cnt;
	pm->sci = st->sci;
	/* The line of a fresh device is low: set it whatever the level, so it matches. */
	if (pm->host.sci_set)
		pm->host.sci_set(pm->host.sci_opaque, pm->sci);
	pthread_mutex_unlock(&pm->lock);
	return 0;
}

static const struct bus_ops evt_ops = {
	.read = evt_read,
	.write = evt_write,
	.min_access = 1,
	.max_access = 2,
};

static const struct bus_ops cnt_ops = {
	.read = cnt_read,
	.write = cnt_write,
	.min_access = 1,
	.max_access = 2,
};

static const struct bus_ops reset_ops = {
	.read = reset_read,
	.write = reset_write,
	.min_access = 1,
	.max_access = 1,
};

int acpi_pm_register(struct acpi_pm *pm, struct bus *pio)
{
	int ret = bus_register(pio, ACPI_PM_EVT_BASE, 4, &evt_ops, pm, "acpi-pm1-evt");

	if (ret == 0)
		ret = bus_register(pio, ACPI_PM_CNT_BASE, 2, &cnt_ops, pm, "acpi-pm1-cnt");
	if (ret == 0)
		ret = bus_register(pio, ACPI_PM_RESET_PORT, 1, &reset_ops, pm, "acpi-reset");
	return ret;
}
