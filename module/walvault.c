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

/*
 * GUCs: one per entry of wv_setting_defs(), in its order; a text setting's value is in setting_text[i], an
 * integer's in setting_int[i]. The shim reads two of them itself (by name, at _PG_init).
 */
static const wv_setting_def *setting_defs = NULL;
static int	setting_count = 0;
static char *setting_text[WV_MAX_SETTINGS];
static int	setting_int[WV_MAX_SETTINGS];
static char **walvault_repo = NULL;
static int *walvault_shutdown_timeout = NULL;

static WalvaultShared *wv_shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* Set when the postmaster tells the archiver to finish (SIGUSR2); see install_stop_handler(). */
static volatile sig_atomic_t stop_requested = false;
static struct sigaction prev_sigusr2;
static TimestampTz stop_requested_at = 0;

static void walvault_shmem_request(void);
static void walvault_shmem_startup(void);
static void define_settings(void);
static bool check_setting(int i, const char *value);
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
	define_settings();
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
check_setting(int i, const char *value)
{
	char		message[WV_MESSAGE_LEN];
	char		hint[WV_MESSAGE_LEN];
	bool		check_access = !process_shared_preload_libraries_in_progress;

	if (value == NULL || wv_check_setting(setting_defs[i].name, value, check_access, message, hint, sizeof(message)))
		return true;
	GUC_check_errdetail("%s", message);
	GUC_check_errhint("%s", hint);
	return false;
}

/*
 * A GUC check hook is not told which setting it checks, so each slot of WV_MAX_SETTINGS gets its own pair
 * of hooks that passes its index on.
 */
#define WV_CHECK_HOOKS(i) \
static bool \
check_text_##i(char **newval, void **extra, GucSource source) \
{ \
	return check_setting(i, *newval); \
} \
static bool \
check_int_##i(int *newval, void **extra, GucSource source) \
{ \
	char		text[32]; \
	snprintf(text, sizeof(text), "%d", *newval); \
	return check_setting(i, text); \
}

WV_CHECK_HOOKS(0)
WV_CHECK_HOOKS(1)
WV_CHECK_HOOKS(2)
WV_CHECK_HOOKS(3)
WV_CHECK_HOOKS(4)
WV_CHECK_HOOKS(5)
WV_CHECK_HOOKS(6)
WV_CHECK_HOOKS(7)
WV_CHECK_HOOKS(8)
WV_CHECK_HOOKS(9)
WV_CHECK_HOOKS(10)
WV_CHECK_HOOKS(11)
WV_CHECK_HOOKS(12)
WV_CHECK_HOOKS(13)
WV_CHECK_HOOKS(14)
WV_CHECK_HOOKS(15)
WV_CHECK_HOOKS(16)
WV_CHECK_HOOKS(17)
WV_CHECK_HOOKS(18)
WV_CHECK_HOOKS(19)
WV_CHECK_HOOKS(20)
WV_CHECK_HOOKS(21)
WV_CHECK_HOOKS(22)
WV_CHECK_HOOKS(23)
WV_CHECK_HOOKS(24)
WV_CHECK_HOOKS(25)
WV_CHECK_HOOKS(26)
WV_CHECK_HOOKS(27)
WV_CHECK_HOOKS(28)
WV_CHECK_HOOKS(29)
WV_CHECK_HOOKS(30)
WV_CHECK_HOOKS(31)

#define WV_HOOK_PAIR(i) {check_text_##i, check_int_##i}
static const struct
{
	GucStringCheckHook text;
	GucIntCheckHook integer;
}			check_hooks[WV_MAX_SETTINGS] = {
	WV_HOOK_PAIR(0), WV_HOOK_PAIR(1), WV_HOOK_PAIR(2), WV_HOOK_PAIR(3), WV_HOOK_PAIR(4), WV_HOOK_PAIR(5),
	WV_HOOK_PAIR(6), WV_HOOK_PAIR(7), WV_HOOK_PAIR(8), WV_HOOK_PAIR(9), WV_HOOK_PAIR(10), WV_HOOK_PAIR(11),
	WV_HOOK_PAIR(12), WV_HOOK_PAIR(13), WV_HOOK_PAIR(14), WV_HOOK_PAIR(15), WV_HOOK_PAIR(16), WV_HOOK_PAIR(17),
	WV_HOOK_PAIR(18), WV_HOOK_PAIR(19), WV_HOOK_PAIR(20), WV_HOOK_PAIR(21), WV_HOOK_PAIR(22), WV_HOOK_PAIR(23),
	WV_HOOK_PAIR(24), WV_HOOK_PAIR(25), WV_HOOK_PAIR(26), WV_HOOK_PAIR(27), WV_HOOK_PAIR(28), WV_HOOK_PAIR(29),
	WV_HOOK_PAIR(30), WV_HOOK_PAIR(31)
};

/*
 * Defines one GUC walvault.NAME per setting the C++ side declares (core/config/settings.cpp and each storage
 * backend's list). Settings that name a host, a path, a key or a credentials profile are GUC_SUPERUSER_ONLY:
 * only superusers and members of pg_read_all_settings see them (docs/configuration.md lists them).
 */
static void
define_settings(void)
{
	char		message[WV_MESSAGE_LEN];
	int			i;

	setting_count = wv_setting_defs(&setting_defs, message, sizeof(message));
	if (setting_count < 0)
		ereport(ERROR, (errmsg("walvault could not list its settings: %s", message)));
	for (i = 0; i < setting_count; i++)
	{
		const wv_setting_def *def = &setting_defs[i];
		char		name[NAMEDATALEN];
		int			flags = def->superuser_only ? GUC_SUPERUSER_ONLY : 0;
		GucContext	context = def->needs_restart ? PGC_POSTMASTER : PGC_SIGHUP;

		if (def->unit == WV_UNIT_MS)
			flags |= GUC_UNIT_MS;
		else if (def->unit == WV_UNIT_MB)
			flags |= GUC_UNIT_MB;
		else if (def->unit == WV_UNIT_S)
			flags |= GUC_UNIT_S;
		snprintf(name, sizeof(name), "walvault.%s", def->name);
		/*
		 * PostgreSQL copies the name but keeps the description and a string's default by pointer: those
		 * point into the C++ side's list, which lives as long as the process.
		 */
		if (def->type == WV_SETTING_INTEGER)
			DefineCustomIntVariable(name, def->help, NULL, &setting_int[i],
									def->default_int, def->min_int, def->max_int, context, flags,
									check_hooks[i].integer, NULL, NULL);
		else
			DefineCustomStringVariable(name, def->help, NULL, &setting_text[i],
									   def->default_text, context, flags,
									   check_hooks[i].text, NULL, NULL);
		if (strcmp(def->name, "repo") == 0)
			walvault_repo = &setting_text[i];
		else if (strcmp(def->name, "shutdown_timeout") == 0)
			walvault_shutdown_timeout = &setting_int[i];
	}
	if (walvault_repo == NULL || walvault_shutdown_timeout == NULL)
		ereport(ERROR, (errmsg("walvault's settings lack walvault.repo or walvault.shutdown_timeout")));
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
	if (*walvault_repo != NULL && (*walvault_repo)[0] != '\0')
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
	return spent_ms >= *walvault_shutdown_timeout ? 0 : *walvault_shutdown_timeout - spent_ms;
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
	const char *values[WV_MAX_SETTINGS];
	char		int_text[WV_MAX_SETTINGS][16];
	int			i;

	for (i = 0; i < setting_count; i++)
	{
		if (setting_defs[i].type == WV_SETTING_INTEGER)
		{
			snprintf(int_text[i], sizeof(int_text[i]), "%d", setting_int[i]);
			values[i] = int_text[i];
		}
		else
			values[i] = setting_text[i];
	}
	settings.count = setting_count;
	settings.values = values;
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
					file, *walvault_repo,
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
	values[i] = CStringGetTextDatum(*walvault_repo ? *walvault_repo : "");
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
