/*
 * Every Check suite of the test runner.  One suite per file, named for it;
 * tests/check_main.c runs them all and prints Check's summary line.
 */
#ifndef SUITES_H
#define SUITES_H

#include <check.h>

Suite	*proto_suite(void);		/* check_proto.c: the frame codec */
Suite	*config_suite(void);		/* check_config.c: ini, units, errors */
Suite	*intensity_suite(void);		/* check_intensity.c: restart back-off */
Suite	*taskmap_suite(void);		/* check_taskmap.c: ids per client */
Suite	*output_suite(void);		/* check_output.c: worker output logged */
Suite	*client_lib_suite(void);	/* check_client_lib.c: libforkpool */
Suite	*daemon_suite(void);		/* check_daemon.c: the protocol, live */
Suite	*errors_suite(void);		/* check_errors.c: every error code */
Suite	*workers_suite(void);		/* check_workers.c: crash, timeout */
Suite	*deflate_suite(void);		/* check_deflate.c: the zlib module */
Suite	*stop_suite(void);		/* check_stop.c: SIGTERM, -t */
Suite	*cli_suite(void);		/* check_cli.c: the forkpool command */
Suite	*systemd_suite(void);		/* check_systemd.c: systemd, install */
Suite	*reload_suite(void);		/* check_reload.c: SIGHUP under load */
Suite	*metrics_suite(void);		/* check_metrics.c: METRICS, STATUS, logs */
Suite	*quarantine_suite(void);	/* check_quarantine.c: poison tasks */
Suite	*hardening_suite(void);		/* check_hardening.c: limits, users */
Suite	*program_suite(void);		/* check_program.c: command = workers */
Suite	*worker_lib_suite(void);	/* check_worker_lib.c: fp_worker_serve */
Suite	*share_suite(void);		/* check_share.c: shared load, limits */
Suite	*trust_suite(void);		/* check_trust.c: socket paths, peers */
Suite	*contain_suite(void);		/* check_contain.c: workers contained */

#endif /* SUITES_H */
