/* Logging: one line per event, prefixed with the function that logs it.
 * Level comes from ATTEST11_LOG (error|warn|info|debug), read once.
 * Never pass key material, PINs or seeds to these macros; nonces are fine. */
#ifndef A11_LOG_H
#define A11_LOG_H

enum a11_log_level { A11_LOG_ERROR, A11_LOG_WARN, A11_LOG_INFO, A11_LOG_DEBUG };

void a11_log(enum a11_log_level level, const char *func, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Override the level from the environment (e.g. from a config file). */
void a11_log_set_level(enum a11_log_level level);
/* The level in force (for a library with its own copy of this file). */
enum a11_log_level a11_log_get_level(void);

#define log_error(...) a11_log(A11_LOG_ERROR, __func__, __VA_ARGS__)
#define log_warn(...) a11_log(A11_LOG_WARN, __func__, __VA_ARGS__)
#define log_info(...) a11_log(A11_LOG_INFO, __func__, __VA_ARGS__)
#define log_debug(...) a11_log(A11_LOG_DEBUG, __func__, __VA_ARGS__)

#endif
