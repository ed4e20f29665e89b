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

/* A snapshot of the settings, taken by the shim on each call. */
typedef struct wv_settings
{
	const char *repo;
	const char *compression;
	int			parallel;
	uint64_t	system_identifier;
	int			pg_major;
	uint64_t	wal_segment_size;
} wv_settings;

typedef struct wv_file_result
{
	uint64_t	bytes_in;
	uint64_t	bytes_out;
	double		duration_ms;	/* from the start of this file's upload to its verification */
	int			already_archived;
	char		message[WV_MESSAGE_LEN];
	char		hint[WV_MESSAGE_LEN];
} wv_file_result;

/* Check hooks: return 1 if value is acceptable, else 0 with message and hint filled. */
extern int	wv_check_repo(const char *value, int check_access, char *message, char *hint, size_t len);
extern int	wv_check_compression(const char *value, char *message, char *hint, size_t len);

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
