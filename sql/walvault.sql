-- The SQL surface of walvault: extension install, status columns, GUC rejection, permissions.
CREATE EXTENSION walvault;

-- The status row and its columns.
SELECT unnest(string_to_array(pg_get_function_arguments('walvault_status'::regproc), ', ')) AS column;
SELECT repo, archived_count, last_archived_wal, last_archived_time, failed_count, last_failed_wal,
       last_failed_time, last_error, bytes_in, bytes_out, last_duration_ms, pending_count, in_flight_count,
       avg_duration_ms, max_duration_ms, stats_reset <= now() AS stats_reset_ok
  FROM walvault_status();

-- Resetting moves stats_reset forward and clears the latencies; in_flight_count is as the archiver last
-- reported it (here it never ran).
SELECT stats_reset AS before_reset FROM walvault_status() \gset
SELECT pg_sleep(0.01);
SELECT walvault_reset_status();
SELECT stats_reset > :'before_reset' AS reset_moved, archived_count, failed_count, in_flight_count,
       avg_duration_ms, max_duration_ms
  FROM walvault_status();

-- Settings and their defaults.
SELECT name, setting, unit, context, vartype, boot_val
  FROM pg_settings WHERE name LIKE 'walvault.%' ORDER BY name;

-- Bad values are rejected with the reason and a hint.
ALTER SYSTEM SET walvault.compression = 'lz4';
ALTER SYSTEM SET walvault.compression = 'zstd:99';
ALTER SYSTEM SET walvault.compression = 'none:1';
ALTER SYSTEM SET walvault.encryption_recipients = 'age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gp';
ALTER SYSTEM SET walvault.encryption_recipients = 'AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ';
ALTER SYSTEM SET walvault.repo = 'relative/dir';
ALTER SYSTEM SET walvault.repo = '/dev/null/repo';
ALTER SYSTEM SET walvault.parallel = 0;
ALTER SYSTEM SET walvault.repo = 's3://';
ALTER SYSTEM SET walvault.s3_uri_style = 'virtual';
ALTER SYSTEM SET walvault.s3_sse = 'aes256';
ALTER SYSTEM SET walvault.s3_endpoint = 'minio:9000';
ALTER SYSTEM SET walvault.s3_endpoint = 'https://minio:9000/bucket';
ALTER SYSTEM SET walvault.s3_part_size = '1MB';
ALTER SYSTEM SET walvault.s3_credentials_file = '/nonexistent/credentials';
-- Good values are accepted.
ALTER SYSTEM SET walvault.compression = 'zstd:9';
ALTER SYSTEM SET walvault.compression = 'none';
ALTER SYSTEM SET walvault.repo = 's3://backups/prod/main';
ALTER SYSTEM SET walvault.s3_endpoint = 'https://minio.internal:9000';
ALTER SYSTEM SET walvault.s3_uri_style = 'path';
ALTER SYSTEM SET walvault.s3_sse = 'aws:kms';
ALTER SYSTEM SET walvault.s3_part_size = '64MB';
ALTER SYSTEM RESET ALL;
-- The prefix is reserved: typos are caught.
SET walvault.compresion = 'zstd';

-- Only superusers and pg_monitor members see status; only superusers reset it.
CREATE ROLE regress_walvault_user;
SET ROLE regress_walvault_user;
SELECT archived_count FROM walvault_status();
SELECT walvault_reset_status();
-- Settings that name a host, a path or a key are visible to superusers and pg_read_all_settings only.
SHOW walvault.s3_credentials_file;
SHOW walvault.repo;
SHOW walvault.s3_endpoint;
SHOW walvault.s3_ca_file;
SHOW walvault.s3_sse_kms_key_id;
SHOW walvault.s3_profile;
SELECT current_setting('walvault.repo');
SELECT name FROM pg_settings WHERE name LIKE 'walvault.%' ORDER BY name;
-- Settings that name nothing of the infrastructure stay visible to all.
SHOW walvault.compression;
RESET ROLE;
GRANT pg_monitor TO regress_walvault_user;
SET ROLE regress_walvault_user;
SELECT archived_count FROM walvault_status();
SELECT walvault_reset_status();
RESET ROLE;
REVOKE pg_monitor FROM regress_walvault_user;
GRANT pg_read_all_settings TO regress_walvault_user;
SET ROLE regress_walvault_user;
SHOW walvault.repo;
SELECT name, setting FROM pg_settings WHERE name IN ('walvault.repo', 'walvault.s3_endpoint') ORDER BY name;
RESET ROLE;
-- A superuser may grant the reset explicitly.
GRANT EXECUTE ON FUNCTION walvault_reset_status() TO regress_walvault_user;
SET ROLE regress_walvault_user;
SELECT walvault_reset_status();
RESET ROLE;
REVOKE EXECUTE ON FUNCTION walvault_reset_status() FROM regress_walvault_user;
DROP ROLE regress_walvault_user;

DROP EXTENSION walvault;
