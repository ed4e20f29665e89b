/* walvault--1.0.sql: the SQL surface of the walvault archive module */

\echo Use "CREATE EXTENSION walvault" to load this file. \quit

CREATE FUNCTION walvault_status(
    OUT repo text,
    OUT archived_count bigint,
    OUT last_archived_wal text,
    OUT last_archived_time timestamptz,
    OUT failed_count bigint,
    OUT last_failed_wal text,
    OUT last_failed_time timestamptz,
    OUT last_error text,
    OUT bytes_in bigint,
    OUT bytes_out bigint,
    OUT last_duration_ms double precision,
    OUT pending_count bigint,
    OUT in_flight_count bigint,
    OUT avg_duration_ms double precision,
    OUT max_duration_ms double precision,
    OUT stats_reset timestamptz)
RETURNS record
AS 'MODULE_PATHNAME', 'walvault_status'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION walvault_status() IS
    'Archive status of the walvault archive module since the server started or the last reset';

CREATE FUNCTION walvault_reset_status()
RETURNS void
AS 'MODULE_PATHNAME', 'walvault_reset_status'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION walvault_reset_status() IS
    'Resets the counters of walvault_status()';

-- Superusers and members of pg_monitor see archive status; only superusers reset it (a superuser may
-- GRANT EXECUTE ON FUNCTION walvault_reset_status() to a role that should).
REVOKE ALL ON FUNCTION walvault_status() FROM PUBLIC;
REVOKE ALL ON FUNCTION walvault_reset_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION walvault_status() TO pg_monitor;
