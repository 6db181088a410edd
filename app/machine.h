/* SPDX-License-Identifier: MIT */
/*
 * Assembles a machine from a parsed command line: an explicit, ordered table
 * of set-up steps (core, devices, firmware, start), torn down in reverse.
 */
#ifndef EMBER_MACHINE_H
#define EMBER_MACHINE_H

struct ember_config;

/* Builds, runs and tears down the machine; returns the process exit code. */
int machine_run(const struct ember_config *cfg);

#endif
