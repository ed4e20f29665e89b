/*
 * bridge.h: the only crossing between the C shim (walvault.c, which includes postgres.h) and the C++
 * side. Plain C types, status codes and caller-owned message buffers. No function here throws, aborts
 * or calls PostgreSQL; all of them are safe to call from the archiver's main thread only.
 */
#ifndef WALVAULT_BRIDGE_H
#define WALVAULT_BRIDGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C"
{
#endif

#define WV_MESSAGE_LEN 1024

typedef enum wv_status
{
	WV_DONE = 0,				/* archived: durable and verified */
	WV_PENDING = 1,				/* still in flight; call again */
	WV_FAILED = 2				/* not archived; message (and maybe hint) filled */
} wv_status;

/*
 * The module's settings, as declared once in the C++ side's list (core/common/setting_def.h): the shim
 * defines one GUC walvault.NAME per entry, in this order, and passes their values back in wv_settings.
 */
#define WV_MAX_SETTINGS 32

typedef enum wv_setting_type
{
	WV_SETTING_TEXT = 0,
	WV_SETTING_INTEGER = 1
} wv_setting_type;

typedef enum wv_setting_unit
{
	WV_UNIT_NONE = 0,
	WV_UNIT_MS = 1,
	WV_UNIT_MB = 2,
	WV_UNIT_S = 3
} wv_setting_unit;

typedef struct wv_setting_def
{
	const char *name;			/* without "walvault." */
	const char *help;			/* the GUC's short description */
	wv_setting_type type;
	const char *default_text;	/* WV_SETTING_TEXT */
	int			default_int;	/* WV_SETTING_INTEGER, with its range */
	int			min_int;
	int			max_int;
	wv_setting_unit unit;
	int			superuser_only; /* GUC_SUPERUSER_ONLY */
	int			needs_restart;	/* PGC_POSTMASTER, else PGC_SIGHUP */
} wv_setting_def;

/*
 * The module's settings: *defs points at count entries (count <= WV_MAX_SETTINGS), valid for the life of
 * the process. Returns -1 if the list could not be built (out of memory), with message filled.
 */
extern int	wv_setting_defs(const wv_setting_def **defs, char *message, size_t len);

/* A snapshot of the settings, taken by the shim on each call. */
typedef struct wv_settings
{
	int			count;			/* as wv_setting_defs() returned */
	const char *const *values;	/* values[i]: setting i as text (integers in decimal); NULL means "" */
	uint64_t	system_identifier;
	int			pg_major;
	uint64_t	wal_segment_size;
} wv_settings;

typedef struct wv_file_result
{
	uint64_t	bytes_in;
	uint64_t	bytes_out;
	double		duration_ms;	/* from the start of this file's upload to its verification */
	int			already_archived;	/* the repository already held this file; nothing was uploaded */

	/*
	 * Files taken on that PostgreSQL has not been told are archived, as of the end of this call (on every
	 * status): waiting for a worker, being compressed, uploaded or verified, or archived ahead and waiting
	 * for PostgreSQL to ask for them. Not failed attempts (redone when asked for) and not this call's file
	 * once its job has ended (WV_DONE, WV_FAILED).
	 */
	uint64_t	in_flight_count;
	char		message[WV_MESSAGE_LEN];
	char		hint[WV_MESSAGE_LEN];
} wv_file_result;

/*
 * Check hook for setting walvault.NAME (name without the prefix): returns 1 if value is acceptable, else 0
 * with message and hint filled. With check_access, also checks what the value points at on disk.
 */
extern int	wv_check_setting(const char *name, const char *value, int check_access, char *message, char *hint,
							 size_t len);

/*
 * Archives file (at path, relative to the data directory). The first call starts the work, and work
 * ahead on other .ready files; every call waits at most wait_ms. WV_DONE and WV_FAILED end the file's
 * job; after WV_PENDING, call again with the same arguments or give up (nothing is reported archived).
 */
extern wv_status wv_archive(const wv_settings *settings, const char *file, const char *path, int wait_ms,
							wv_file_result *result);

/* Stops the worker threads, waiting at most wait_ms for uploads under way. */
extern void wv_shutdown(int wait_ms);

#ifdef __cplusplus
}
#endif

#endif							/* WALVAULT_BRIDGE_H */
