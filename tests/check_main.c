/*
 * The test runner: every suite, in fork mode so a crash fails one test.
 * CK_RUN_SUITE and CK_RUN_CASE (Check's own variables) pick a subset.
 */
#include <stdlib.h>

#include "suites.h"

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(proto_suite());
	srunner_add_suite(sr, config_suite());
	srunner_add_suite(sr, intensity_suite());
	srunner_add_suite(sr, taskmap_suite());
	srunner_add_suite(sr, output_suite());
	srunner_add_suite(sr, client_lib_suite());
	srunner_add_suite(sr, daemon_suite());
	srunner_add_suite(sr, errors_suite());
	srunner_add_suite(sr, workers_suite());
	srunner_add_suite(sr, deflate_suite());
	srunner_add_suite(sr, stop_suite());
	srunner_add_suite(sr, cli_suite());
	srunner_add_suite(sr, systemd_suite());
	srunner_add_suite(sr, reload_suite());
	srunner_add_suite(sr, metrics_suite());
	srunner_add_suite(sr, quarantine_suite());
	srunner_add_suite(sr, hardening_suite());
	srunner_add_suite(sr, program_suite());
	srunner_add_suite(sr, worker_lib_suite());
	srunner_add_suite(sr, share_suite());
	srunner_add_suite(sr, trust_suite());
	srunner_add_suite(sr, contain_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
