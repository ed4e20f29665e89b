/*-------------------------------------------------------------------------
 *
 * walvault.c
 *
 * An archive module that does what
 *     archive_command = 'zstd -q < %p > /repo/wal/.../%f.zst && sync'
 * would do, done right: straight from the archiver process (no fork per file), compressed, checksummed,
 * durable and verified before PostgreSQL is told the file is archived, never overwriting, and working
 * ahead on the next .ready files in parallel threads.
 *
 * This file is the whole PostgreSQL side: GUCs, shared-memory status, the archive callbacks and the SQL
 * functions. Each callback forwards to one function of bridge.h; the C++ behind it never calls
 * PostgreSQL and never lets an exception out. Builds against PostgreSQL 15 to 18.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>
#include <sys/stat.h>

#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "postmaster/interrupt.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/pmsignal.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#if PG_VERSION_NUM >= 160000
#include "archive/archive_module.h"
#else
#include "postmaster/pgarch.h"
#endif

#include "bridge.h"

PG_MODULE_MAGIC;

#define WV_WAIT_SLICE_MS 100	/* how often a waiting archive call looks for shutdown */
#define WV_THREAD_EXIT_WAIT_MS 2000 /* how long the archiver's exit waits for uploads under way */
#define WV_PG_RETRY_PAUSE_MS 1000	/* pgarch.c's pause before it retries a failed file */
#define WV_NAME_LEN 64

typedef struct WalvaultShared
{
	slock_t		mutex;
	int64		archived_count;
	char		last_archived_wal[WV_NAME_LEN];
	TimestampTz last_archived_time;
	int64		failed_count;
	char		last_failed_wal[WV_NAME_LEN];
	TimestampTz last_failed_time;
	char		last_error[WV_MESSAGE_LEN];
	int64		bytes_in;
	int64		bytes_out;
	double		last_duration_ms;
	int64		uploaded_count; /* files archived by an upload of ours (not "already archived") */
	double		total_duration_ms;	/* their durations: avg_duration_ms = total / count */
	double		max_duration_ms;
	int64		in_flight_count;	/* as of the archiver's last wv_archive call; not reset */
	TimestampTz stats_reset;
} WalvaultShared;

/* GUCs */
static char *walvault_repo = NULL;
static char *walvault_compression = NULL;
static int	walvault_parallel = 2;
static int	walvault_shutdown_timeout = 5000;
static char *walvault_s3_endpoint = NULL;
static char *walvault_s3_region = NULL;
static char *walvault_s3_uri_style = NULL;
static char *walvault_s3_ca_file = NULL;
static char *walvault_s3_sse = NULL;
static char *walvault_s3_sse_kms_key_id = NULL;
static char *walvault_s3_storage_class = NULL;
static char *walvault_s3_credentials_file = NULL;
static char *walvault_s3_profile = NULL;
static int	walvault_s3_part_size_mb = 0;

static WalvaultShared *wv_shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* Set when the postmaster tells the archiver to finish (SIGUSR2); see install_stop_handler(). */
static volatile sig_atomic_t stop_requested = false;
static struct sigaction prev_sigusr2;
static TimestampTz stop_requested_at = 0;

static void walvault_shmem_request(void);
static void walvault_shmem_startup(void);
static bool check_setting(const char *name, char **newval);
static bool check_repo(char **newval, void **extra, GucSource source);
static bool check_compression(char **newval, void **extra, GucSource source);
static bool check_s3_endpoint(char **newval, void **extra, GucSource source);
static bool check_s3_uri_style(char **newval, void **extra, GucSource source);
static bool check_s3_sse(char **newval, void **extra, GucSource source);
static bool check_s3_ca_file(char **newval, void **extra, GucSource source);
static bool check_s3_credentials_file(char **newval, void **extra, GucSource source);
static bool check_s3_part_size(int *newval, void **extra, GucSource source);
static void install_stop_handler(void);
static bool archive_one(const char *file, const char *path);
static bool configured(void);
static void shutdown_workers(void);

#if PG_VERSION_NUM >= 160000
static bool walvault_check_configured(ArchiveModuleState *state);
static bool walvault_archive_file(ArchiveModuleState *state, const char *file, const char *path);
static void walvault_startup(ArchiveModuleState *state);
static void walvault_shutdown(ArchiveModuleState *state);

static const ArchiveModuleCallbacks walvault_callbacks = {
	.startup_cb = walvault_startup,
	.check_configured_cb = walvault_check_configured,
	.archive_file_cb = walvault_archive_file,
	.shutdown_cb = walvault_shutdown
};
#else
static bool walvault_check_configured(void);
static bool walvault_archive_file(const char *file, const char *path);
static void walvault_shutdown(void);
#endif

#if PG_VERSION_NUM < 160000
void		_PG_init(void);
#endif

PG_FUNCTION_INFO_V1(walvault_status);
PG_FUNCTION_INFO_V1(walvault_reset_status);

void
_PG_init(void)
{
	/*
	 * Settings that name a host, a path, a key or a credentials profile are GUC_SUPERUSER_ONLY: only
	 * superusers and members of pg_read_all_settings see them (docs/configuration.md lists them).
	 */
	DefineCustomStringVariable("walvault.repo",
							   "Repository that WAL is archived to: an absolute directory path or s3://BUCKET/PREFIX.",
							   NULL,
							   &walvault_repo,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   check_repo, NULL, NULL);

	DefineCustomStringVariable("walvault.compression",
							   "Compression of archived files: \"none\", \"zstd\" or \"zstd:LEVEL\".",
							   NULL,
							   &walvault_compression,
							   "zstd:3",
							   PGC_SIGHUP,
							   0,
							   check_compression, NULL, NULL);

	DefineCustomIntVariable("walvault.parallel",
							"Number of files archived at the same time, working ahead of the archiver.",
							NULL,
							&walvault_parallel,
							8, 1, 16,	/* k_max_parallel in core/config/settings.h; 8: see
										 * docs/configuration.md */
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("walvault.shutdown_timeout",
							"Time the archiver keeps archiving after shutdown starts; the rest stays ready for the next start.",
							NULL,
							&walvault_shutdown_timeout,
							5000, 0, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomStringVariable("walvault.s3_endpoint",
							   "S3-compatible endpoint URL; empty means AWS_ENDPOINT_URL, else AWS for the region.",
							   NULL, &walvault_s3_endpoint, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   check_s3_endpoint, NULL, NULL);
	DefineCustomStringVariable("walvault.s3_region",
							   "S3 region; empty means AWS_REGION, AWS_DEFAULT_REGION, the profile's region, else us-east-1.",
							   NULL, &walvault_s3_region, "", PGC_SIGHUP, 0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("walvault.s3_uri_style",
							   "S3 addressing: \"host\" (bucket.endpoint) or \"path\" (endpoint/bucket); empty means path with an endpoint, host for AWS.",
							   NULL, &walvault_s3_uri_style, "", PGC_SIGHUP, 0,
							   check_s3_uri_style, NULL, NULL);
	DefineCustomStringVariable("walvault.s3_ca_file",
							   "PEM file of the certificate authorities that sign the S3 endpoint's certificate.",
							   NULL, &walvault_s3_ca_file, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   check_s3_ca_file, NULL, NULL);
	DefineCustomStringVariable("walvault.s3_sse",
							   "S3 server-side encryption: \"AES256\" or \"aws:kms\"; empty means the bucket's default.",
							   NULL, &walvault_s3_sse, "", PGC_SIGHUP, 0,
							   check_s3_sse, NULL, NULL);
	DefineCustomStringVariable("walvault.s3_sse_kms_key_id",
							   "KMS key for walvault.s3_sse = 'aws:kms'; empty means the account's default key.",
							   NULL, &walvault_s3_sse_kms_key_id, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("walvault.s3_storage_class",
							   "S3 storage class of archived objects; empty means the bucket's default.",
							   NULL, &walvault_s3_storage_class, "", PGC_SIGHUP, 0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("walvault.s3_credentials_file",
							   "File with S3 keys in the AWS shared-credentials format, read before the environment and ~/.aws.",
							   NULL, &walvault_s3_credentials_file, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   check_s3_credentials_file, NULL, NULL);
	DefineCustomStringVariable("walvault.s3_profile",
							   "Profile in the credentials files; empty means AWS_PROFILE, else \"default\".",
							   NULL, &walvault_s3_profile, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("walvault.s3_part_size",
							"Part size of S3 multipart uploads; larger objects are uploaded in parts. 0 means 32MB.",
							NULL, &walvault_s3_part_size_mb,
							0, 0, 5120,
							PGC_SIGHUP, GUC_UNIT_MB,
							check_s3_part_size, NULL, NULL);

	MarkGUCPrefixReserved("walvault");

	if (!process_shared_preload_libraries_in_progress)
		return;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = walvault_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = walvault_shmem_startup;
}

static void
walvault_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(WalvaultShared)));
}

static void
walvault_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	wv_shared = ShmemInitStruct("walvault", sizeof(WalvaultShared), &found);
	if (!found)
	{
		memset(wv_shared, 0, sizeof(WalvaultShared));
		SpinLockInit(&wv_shared->mutex);
		wv_shared->stats_reset = GetCurrentTimestamp();
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Check hooks forward to wv_check_setting(). Paths are checked for access at reload and ALTER SYSTEM, not at
 * server start: a repository or file that is not mounted yet must not keep the server from starting;
 * archiving then fails, with the reason, until it is.
 */
static bool
check_setting(const char *name, char **newval)
{
	char		message[WV_MESSAGE_LEN];
	char		hint[WV_MESSAGE_LEN];
	bool		check_access = !process_shared_preload_libraries_in_progress;

	if (*newval == NULL || wv_check_setting(name, *newval, check_access, message, hint, sizeof(message)))
		return true;
	GUC_check_errdetail("%s", message);
	GUC_check_errhint("%s", hint);
	return false;
}

static bool
check_repo(char **newval, void **extra, GucSource source)
{
	return check_setting("repo", newval);
}

static bool
check_compression(char **newval, void **extra, GucSource source)
{
	return check_setting("compression", newval);
}

static bool
check_s3_endpoint(char **newval, void **extra, GucSource source)
{
	return check_setting("s3_endpoint", newval);
}

static bool
check_s3_uri_style(char **newval, void **extra, GucSource source)
{
	return check_setting("s3_uri_style", newval);
}

static bool
check_s3_sse(char **newval, void **extra, GucSource source)
{
	return check_setting("s3_sse", newval);
}

static bool
check_s3_ca_file(char **newval, void **extra, GucSource source)
{
	return check_setting("s3_ca_file", newval);
}

static bool
check_s3_credentials_file(char **newval, void **extra, GucSource source)
{
	return check_setting("s3_credentials_file", newval);
}

static bool
check_s3_part_size(int *newval, void **extra, GucSource source)
{
	if (*newval == 0 || *newval >= 5)
		return true;
	GUC_check_errdetail("S3 parts are at least 5MB.");
	GUC_check_errhint("Set walvault.s3_part_size to 0 for the default (32MB) or to 5MB or more.");
	return false;
}

#if PG_VERSION_NUM >= 160000
PGDLLEXPORT const ArchiveModuleCallbacks *
_PG_archive_module_init(void)
{
	return &walvault_callbacks;
}

static void
walvault_startup(ArchiveModuleState *state)
{
	install_stop_handler();
}

static bool
walvault_check_configured(ArchiveModuleState *state)
{
	return configured();
}

static bool
walvault_archive_file(ArchiveModuleState *state, const char *file, const char *path)
{
	return archive_one(file, path);
}

static void
walvault_shutdown(ArchiveModuleState *state)
{
	shutdown_workers();
}
#else
PGDLLEXPORT void _PG_archive_module_init(ArchiveModuleCallbacks *cb);

void
_PG_archive_module_init(ArchiveModuleCallbacks *cb)
{
	/* PostgreSQL 15 loads the module in the archiver after setting up its signal handlers. */
	install_stop_handler();
	cb->check_configured_cb = walvault_check_configured;
	cb->archive_file_cb = walvault_archive_file;
	cb->shutdown_cb = walvault_shutdown;
}

static bool
walvault_check_configured(void)
{
	return configured();
}

static bool
walvault_archive_file(const char *file, const char *path)
{
	return archive_one(file, path);
}

static void
walvault_shutdown(void)
{
	shutdown_workers();
}
#endif

static bool
configured(void)
{
	if (walvault_repo != NULL && walvault_repo[0] != '\0')
		return true;
#if PG_VERSION_NUM >= 170000
	arch_module_check_errdetail("walvault.repo is not set.");
#else
	ereport(WARNING,
			(errmsg("walvault.repo is not set"),
			 errhint("Set walvault.repo to the repository directory and reload.")));
#endif
	return false;
}

/*
 * The postmaster sends the archiver SIGUSR2 when the cluster shuts down, after the shutdown checkpoint;
 * the archiver then archives what is ready and exits. pgarch.c keeps that flag to itself, so we chain a
 * handler of our own in front of its: from then on walvault.shutdown_timeout bounds how long we keep
 * archiving, so that a slow store never holds up pg_ctl stop. Files not archived stay .ready.
 */
static void
walvault_sigusr2(SIGNAL_ARGS)
{
	int			save_errno = errno;

	stop_requested = true;
	if (prev_sigusr2.sa_handler != SIG_IGN && prev_sigusr2.sa_handler != SIG_DFL)
		prev_sigusr2.sa_handler(postgres_signal_arg);
	errno = save_errno;
}

static void
install_stop_handler(void)
{
	struct sigaction act;

	memset(&act, 0, sizeof(act));
	act.sa_handler = walvault_sigusr2;
	sigemptyset(&act.sa_mask);
	act.sa_flags = SA_RESTART;
	sigaction(SIGUSR2, &act, &prev_sigusr2);
}

static void
report_result(const char *file, bool ok, const wv_file_result *result)
{
	TimestampTz now = GetCurrentTimestamp();

	if (wv_shared == NULL)
		return;
	SpinLockAcquire(&wv_shared->mutex);
	if (ok)
	{
		wv_shared->archived_count++;
		strlcpy(wv_shared->last_archived_wal, file, WV_NAME_LEN);
		wv_shared->last_archived_time = now;
		wv_shared->bytes_in += (int64) result->bytes_in;
		wv_shared->bytes_out += (int64) result->bytes_out;
		wv_shared->last_duration_ms = result->duration_ms;
		if (!result->already_archived)
		{
			wv_shared->uploaded_count++;
			wv_shared->total_duration_ms += result->duration_ms;
			wv_shared->max_duration_ms = Max(wv_shared->max_duration_ms, result->duration_ms);
		}
	}
	else
	{
		wv_shared->failed_count++;
		strlcpy(wv_shared->last_failed_wal, file, WV_NAME_LEN);
		wv_shared->last_failed_time = now;
		strlcpy(wv_shared->last_error, result->message, WV_MESSAGE_LEN);
	}
	SpinLockRelease(&wv_shared->mutex);
}

/*
 * What the bridge says it has taken on and PostgreSQL does not know is archived yet (wv_file_result's
 * in_flight_count), after each wv_archive call; 0 when the archiver lets its workers go.
 */
static void
report_in_flight(uint64_t count)
{
	if (wv_shared == NULL)
		return;
	SpinLockAcquire(&wv_shared->mutex);
	wv_shared->in_flight_count = (int64) count;
	SpinLockRelease(&wv_shared->mutex);
}

/* Milliseconds left of walvault.shutdown_timeout since the stop was first noticed; 0 once it is spent. */
static long
shutdown_budget_left_ms(void)
{
	long		secs;
	int			usecs;
	long		spent_ms;

	if (stop_requested_at == 0)
		stop_requested_at = GetCurrentTimestamp();
	TimestampDifference(stop_requested_at, GetCurrentTimestamp(), &secs, &usecs);
	spent_ms = secs * 1000 + usecs / 1000;
	return spent_ms >= walvault_shutdown_timeout ? 0 : walvault_shutdown_timeout - spent_ms;
}

/*
 * At a server stop, ends the archiver when what is left of the shutdown budget would not even cover
 * PostgreSQL's pause before it retries a file: that is what pgarch.c does once its last pass ends, and
 * returning false would not be quicker. PostgreSQL retries a failed file three times, 1 s apart, and when
 * the stop came during a pass it makes one more pass, up to 4 s of sleeping past walvault.shutdown_timeout.
 * The shutdown callback still runs (a before_shmem_exit callback); no C++ frame is below the caller.
 */
static void
exit_if_out_of_time(void)
{
	if (stop_requested && !ShutdownRequestPending && shutdown_budget_left_ms() < WV_PG_RETRY_PAUSE_MS)
		proc_exit(0);
}

/* True when this archive call must give up: the server is going down, or past the shutdown budget. */
static bool
must_give_up(void)
{
	if (ShutdownRequestPending || !PostmasterIsAlive())
		return true;
	return stop_requested && shutdown_budget_left_ms() == 0;
}

static bool
archive_one(const char *file, const char *path)
{
	wv_settings settings;
	wv_file_result result;
	wv_status	status;

	settings.repo = walvault_repo;
	settings.compression = walvault_compression;
	settings.parallel = walvault_parallel;
	settings.s3_endpoint = walvault_s3_endpoint;
	settings.s3_region = walvault_s3_region;
	settings.s3_uri_style = walvault_s3_uri_style;
	settings.s3_ca_file = walvault_s3_ca_file;
	settings.s3_sse = walvault_s3_sse;
	settings.s3_sse_kms_key_id = walvault_s3_sse_kms_key_id;
	settings.s3_storage_class = walvault_s3_storage_class;
	settings.s3_credentials_file = walvault_s3_credentials_file;
	settings.s3_profile = walvault_s3_profile;
	settings.s3_part_size_mb = walvault_s3_part_size_mb;
	settings.system_identifier = GetSystemIdentifier();
	settings.pg_major = PG_VERSION_NUM / 10000;
	settings.wal_segment_size = (uint64_t) wal_segment_size;

	for (;;)
	{
		if (must_give_up())
		{
			snprintf(result.message, sizeof(result.message),
					 "archiving of \"%s\" stopped because the server is shutting down", file);
			ereport(WARNING,
					(errmsg("%s", result.message),
					 errhint("The file stays ready and is archived when the server starts again.")));
			report_result(file, false, &result);
			exit_if_out_of_time();
			return false;
		}
		status = wv_archive(&settings, file, path, WV_WAIT_SLICE_MS, &result);
		report_in_flight(result.in_flight_count);
		if (status != WV_PENDING)
			break;
	}

	if (status == WV_FAILED)
	{
#if PG_VERSION_NUM >= 170000
		/*
		 * From PostgreSQL 17 on, pgarch.c catches an ERROR raised by the archive callback, logs it, cleans
		 * up and retries the file as for a false return, and the archiver lives on. A failed upload is then
		 * an ERROR in the log, as basic_archive reports its failures there, which is the level log
		 * monitoring watches for. Everything is recorded first: the ERROR does not come back. No C++ frame
		 * is below this one.
		 */
		report_result(file, false, &result);
		exit_if_out_of_time();
		if (result.hint[0] != '\0')
			ereport(ERROR, (errmsg("%s", result.message), errhint("%s", result.hint)));
		else
			ereport(ERROR, (errmsg("%s", result.message)));
#else
		if (result.hint[0] != '\0')
			ereport(WARNING, (errmsg("%s", result.message), errhint("%s", result.hint)));
		else
			ereport(WARNING, (errmsg("%s", result.message)));
		report_result(file, false, &result);
		exit_if_out_of_time();
#endif
		return false;
	}

	ereport(DEBUG1,
			(errmsg("archived \"%s\" to \"%s\" (%llu bytes, stored %llu, %.1f ms%s)",
					file, walvault_repo,
					(unsigned long long) result.bytes_in, (unsigned long long) result.bytes_out,
					result.duration_ms, result.already_archived ? ", already archived" : "")));
	report_result(file, true, &result);
	return true;
}

static void
shutdown_workers(void)
{
	long		wait_ms = WV_THREAD_EXIT_WAIT_MS;

	/* At a server stop, waiting for uploads under way is part of walvault.shutdown_timeout. */
	if (stop_requested)
		wait_ms = Min(wait_ms, shutdown_budget_left_ms());
	wv_shutdown((int) wait_ms);
	/* Uploads still under way are abandoned with the process: nothing is in flight any more. */
	report_in_flight(0);
}

static void
require_shared_memory(void)
{
	if (wv_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("walvault must be loaded via shared_preload_libraries"),
				 errhint("Add walvault to shared_preload_libraries and restart the server.")));
}

/* Number of .ready files in pg_wal/archive_status: what the archiver still has to do. */
static int64
count_ready_files(void)
{
	DIR		   *dir;
	struct dirent *de;
	int64		count = 0;

	dir = AllocateDir(XLOGDIR "/archive_status");
	while ((de = ReadDir(dir, XLOGDIR "/archive_status")) != NULL)
	{
		size_t		len = strlen(de->d_name);

		if (len > 6 && strcmp(de->d_name + len - 6, ".ready") == 0)
			count++;
	}
	FreeDir(dir);
	return count;
}

Datum
walvault_status(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[16];
	bool		nulls[16];
	WalvaultShared snap;
	int			i = 0;

	require_shared_memory();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	SpinLockAcquire(&wv_shared->mutex);
	memcpy(&snap, wv_shared, sizeof(snap));
	SpinLockRelease(&wv_shared->mutex);

	memset(nulls, 0, sizeof(nulls));
	values[i] = CStringGetTextDatum(walvault_repo ? walvault_repo : "");
	i++;
	values[i++] = Int64GetDatum(snap.archived_count);
	if (snap.last_archived_wal[0] != '\0')
		values[i] = CStringGetTextDatum(snap.last_archived_wal);
	else
		nulls[i] = true;
	i++;
	if (snap.last_archived_time != 0)
		values[i] = TimestampTzGetDatum(snap.last_archived_time);
	else
		nulls[i] = true;
	i++;
	values[i++] = Int64GetDatum(snap.failed_count);
	if (snap.last_failed_wal[0] != '\0')
		values[i] = CStringGetTextDatum(snap.last_failed_wal);
	else
		nulls[i] = true;
	i++;
	if (snap.last_failed_time != 0)
		values[i] = TimestampTzGetDatum(snap.last_failed_time);
	else
		nulls[i] = true;
	i++;
	if (snap.last_error[0] != '\0')
		values[i] = CStringGetTextDatum(snap.last_error);
	else
		nulls[i] = true;
	i++;
	values[i++] = Int64GetDatum(snap.bytes_in);
	values[i++] = Int64GetDatum(snap.bytes_out);
	if (snap.archived_count > 0)
		values[i] = Float8GetDatum(snap.last_duration_ms);
	else
		nulls[i] = true;
	i++;
	values[i++] = Int64GetDatum(count_ready_files());
	values[i++] = Int64GetDatum(snap.in_flight_count);
	if (snap.uploaded_count > 0)
	{
		values[i] = Float8GetDatum(snap.total_duration_ms / (double) snap.uploaded_count);
		values[i + 1] = Float8GetDatum(snap.max_duration_ms);
	}
	else
		nulls[i] = nulls[i + 1] = true;
	i += 2;
	values[i++] = TimestampTzGetDatum(snap.stats_reset);
	Assert(i == lengthof(values));

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

Datum
walvault_reset_status(PG_FUNCTION_ARGS)
{
	TimestampTz now = GetCurrentTimestamp();

	require_shared_memory();
	SpinLockAcquire(&wv_shared->mutex);
	wv_shared->archived_count = 0;
	wv_shared->last_archived_wal[0] = '\0';
	wv_shared->last_archived_time = 0;
	wv_shared->failed_count = 0;
	wv_shared->last_failed_wal[0] = '\0';
	wv_shared->last_failed_time = 0;
	wv_shared->last_error[0] = '\0';
	wv_shared->bytes_in = 0;
	wv_shared->bytes_out = 0;
	wv_shared->last_duration_ms = 0;
	wv_shared->uploaded_count = 0;
	wv_shared->total_duration_ms = 0;
	wv_shared->max_duration_ms = 0;
	/* in_flight_count is a gauge, not a counter: it stays as the archiver last reported it. */
	wv_shared->stats_reset = now;
	SpinLockRelease(&wv_shared->mutex);
	PG_RETURN_VOID();
}
