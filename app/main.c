// SPDX-License-Identifier: MIT
#include "config.h"

#include "cli.h"
#include "machine.h"
#include "core/log.h"
#include "core/vm.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	struct ember_config cfg;
	const char *lvl = getenv("EMBER_LOG");
	char err[512];
	sigset_t set;

	if (lvl && *lvl) {
		enum log_level level;

		if (log_parse_level(lvl, &level) < 0) {
			log_err("EMBER_LOG='%s' is not error, warn, info or debug", lvl);
			return EMBER_EXIT_USAGE;
		}
		log_set_level(level);
	}
	if (cli_parse(argc, argv, &cfg, err, sizeof(err)) < 0) {
		log_err("%s", err);
		return EMBER_EXIT_USAGE;
	}
	if (cfg.help) {
		cli_print_help(stdout);
		return EMBER_EXIT_OK;
	}
	if (cfg.version) {
		printf("ember %s\n", PACKAGE_VERSION);
		return EMBER_EXIT_OK;
	}
	if (cfg.help_kinds) {
		cli_print_kinds(stdout, &cfg);
		return EMBER_EXIT_OK;
	}
	if (cfg.name)
		log_set_name(cfg.name);

	/* A closed output pipe must show up as a failed write, not kill ember. */
	signal(SIGPIPE, SIG_IGN);
	/*
	 * SIGINT and SIGTERM always stop the guest cleanly, even when the
	 * parent left them ignored (as shells do for background jobs): an
	 * ignored signal would never reach the signalfd. Block them before any
	 * thread exists; the event loop reads them from a signalfd.
	 */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	return machine_run(&cfg);
}
