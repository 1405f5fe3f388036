/*
 * One printf-checked log API for the master and its workers: one line per
 * event on stderr, with a <N> priority prefix when journald reads it.
 */
#ifndef LOG_H
#define LOG_H

#include <stdarg.h>
#include <syslog.h>

void	log_init(int level, const char *ident);
void	log_set_level(int level);
int	log_get_level(void);
int	log_level_from_name(const char *name);
const char *log_level_name(int level);
void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	logit(int pri, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	vlog(int pri, const char *fmt, va_list ap)
	    __attribute__((format(printf, 2, 0)));
__attribute__((noreturn))
void	fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
__attribute__((noreturn))
void	fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* LOG_H */
