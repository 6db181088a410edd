/* SPDX-License-Identifier: MIT */
/*
 * Test builds only (tests/ember-hooks, never the installed ember): a port
 * through which a guest makes a vCPU thread attempt a system call its
 * sandbox forbids, as a compromised device model would. Writing
 * TESTHOOKS_OPEN opens /etc/passwd; TESTHOOKS_EXEC calls execve on a path
 * that does not exist. Reading the port gives TESTHOOKS_MAGIC.
 */
#ifndef EMBER_TESTHOOKS_H
#define EMBER_TESTHOOKS_H

#include "core/bus.h"

#define TESTHOOKS_PORT 0x5e0
#define TESTHOOKS_MAGIC 0x5a
#define TESTHOOKS_OPEN 1
#define TESTHOOKS_EXEC 2

int testhooks_register(struct bus *pio);

#endif
