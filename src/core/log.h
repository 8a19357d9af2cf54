/* log.h - upstream-compatible log lines.
 *
 * Lines look like Receptor's: "LEVEL YYYY/MM/DD HH:MM:SS message", written to
 * stdout, so operators' greps keep working.  The level is process-wide (with
 * the loaded-library tables of gnutls_lib.c): a process has one log stream,
 * and every layer (including src/runner, which has no node) writes to it. */
#ifndef CORE_LOG_H
#define CORE_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARNING = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warning", "info", "debug" (any case); -1 when unknown. */
int log_level_parse(const char *name);
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...)   log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...)    log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)   log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
