# walvault backup and restore, end to end on a posix repository, as a DBA would do it: archive with the
# module, take a backup, keep working, lose the data directory, restore the latest backup into it, start,
# and find every row again (pg_dumpall identical). The restored directory passes pg_verifybackup. A backup
# with two tablespaces restores as a second cluster with both tablespaces moved. walvault list --json has
# the documented fields and types and agrees with what PostgreSQL reported; backup-delete removes a backup.
# A backup with --part-size 1 stores relation files in 1 MiB parts and restores to the same rows.
use strict;
use warnings;

use File::Path qw(rmtree);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::RecursiveCopy;
use PostgreSQL::Test::Utils;
use File::Find;
use Test::More;
use WalvaultTest;

my $LSN_RE     = qr{[0-9A-F]+/[0-9A-F]+};
my $SEGMENT_RE = qr{[0-9A-F]{24}};
my $TIME_RE    = qr{\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ};
# "backup "LABEL" complete: N files, X read, Y stored, in S s (start 0/2000028, stop 0/2000100, timeline 1)"
my $SUMMARY_RE =
  qr{^backup "([^"]+)" complete: (\d+) files, \S+ \S+ read, \S+ \S+ stored, in [\d.]+ s \(start ($LSN_RE), stop ($LSN_RE), timeline (\d+)\)\n\z};

my $node = walvault_node('primary');
my $repo = $node->basedir . '/repo';
set_conf($node, 'walvault.repo' => "'$repo'");
$node->start;
my $sysid = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
my $version_num = $node->safe_psql('postgres', 'SHOW server_version_num');
my $segsize = segment_size($node);

$node->safe_psql('postgres',
	'CREATE TABLE before_backup AS SELECT g, md5(g::text) AS h FROM generate_series(1, 20000) g');
my $relpath = $node->safe_psql('postgres', "SELECT pg_relation_filepath('before_backup')");

# ---- 1. the seed scenario: backup, more work, lose the data directory, restore, start ----

my ($rc, $out, $err) = br_backup($node, $repo);
is($rc, 0, 'walvault backup exits 0') or diag($err);
my ($label, $nfiles, $start_lsn, $stop_lsn, $tli) = $out =~ $SUMMARY_RE;
ok(defined $label, 'backup prints one summary line') or diag("stdout: $out");
$label //= '?';
like($label, qr/^\d{8}T\d{6}Z$/, "default label is the start time in UTC ($label)");
is($tli, 1, 'summary: timeline 1');

# Work after the backup, only in the archived WAL: a new table, a new database, changed rows.
$node->safe_psql('postgres',
	"CREATE TABLE after_backup AS SELECT g, repeat('x', g % 100) AS pad FROM generate_series(1, 5000) g;\n"
	  . "UPDATE before_backup SET h = upper(h) WHERE g % 7 = 0;\n"
	  . 'DELETE FROM before_backup WHERE g % 11 = 0;');
$node->safe_psql('postgres', 'CREATE DATABASE created_after');
$node->safe_psql('created_after', 'CREATE TABLE n AS SELECT g AS i FROM generate_series(1, 1000) g');
my $last = switch_wal($node);
ok(wait_for_done($node, $last), "the segment with the last changes ($last) is archived");
ok(wait_for_no_ready($node), 'nothing left to archive');

# ---- 4 (first part). walvault list --json against the documented fields and PostgreSQL's own report ----

my $list = br_list_json($repo);
check_json_types($list // {},
	{
		format            => 'number',
		repository        => 'string',
		system_identifier => 'string',
		pg_major          => 'number',
		wal_segment_size  => 'number',
		backups           => 'array',
		wal               => 'array'
	},
	'list');
is($list->{format},            1,       'list: format 1');
is($list->{repository},        $repo,   'list: repository');
is($list->{system_identifier}, $sysid,  'list: system_identifier of the cluster');
is($list->{pg_major},          15,      'list: pg_major 15');
is($list->{wal_segment_size},  $segsize, 'list: wal_segment_size');

my @backups = @{ $list->{backups} // [] };
is(scalar(@backups), 1, 'list: one backup');
my $b = $backups[0] // {};
check_json_types($b,
	{
		label          => 'string',
		status         => 'string',
		stored_size    => 'number',
		start_time     => 'string',
		stop_time      => 'string',
		start_lsn      => 'string',
		stop_lsn       => 'string',
		timeline       => 'number',
		start_wal      => 'string',
		stop_wal       => 'string',
		pg_version_num => 'number',
		original_size  => 'number',
		files          => 'number',
		tablespaces    => 'number',
		compression    => 'string'
	},
	'list: backup');
is($b->{label},  $label,     'list: backup label');
is($b->{status}, 'complete', 'list: backup status complete');
like($b->{start_time}, qr/^$TIME_RE$/, 'list: start_time is ISO 8601 UTC');
like($b->{stop_time},  qr/^$TIME_RE$/, 'list: stop_time is ISO 8601 UTC');
ok(($b->{start_time} // '') le ($b->{stop_time} // ''), 'list: start_time not after stop_time');
is($b->{start_lsn}, $start_lsn, 'list: start_lsn as in the summary line');
is($b->{stop_lsn},  $stop_lsn,  'list: stop_lsn as in the summary line');
is($b->{timeline},  1,          'list: timeline 1');
is($b->{files},     $nfiles,    'list: files as in the summary line');
is($b->{tablespaces}, 0, 'list: no tablespaces');
is($b->{pg_version_num}, $version_num, 'list: pg_version_num = server_version_num');
is($b->{compression}, 'zstd:3', 'list: compression zstd:3 (the default)');
cmp_ok($b->{stored_size}, '>', 0, 'list: stored_size > 0');
cmp_ok($b->{stored_size}, '<', $b->{original_size}, 'list: zstd stores less than the original size');

# What PostgreSQL itself recorded: the backup history file pg_backup_stop() wrote into the archive.
my $history = br_backup_history($repo, $label) // {};
is($b->{start_lsn}, $history->{start_lsn}, "list: start_lsn = START WAL LOCATION of PostgreSQL's backup history file");
is($b->{stop_lsn},  $history->{stop_lsn},  "list: stop_lsn = STOP WAL LOCATION of PostgreSQL's backup history file");
is($b->{start_wal}, $history->{start_wal}, 'list: start_wal = the file of START WAL LOCATION');
is($b->{stop_wal}, $node->safe_psql('postgres', "SELECT pg_walfile_name('$stop_lsn')"),
	'list: stop_wal = the segment holding the last byte before stop_lsn');

# The WAL section, against the .done files of pg_wal (nothing is recycled: wal_keep_size) and the objects.
my @archived = grep { /^00000001[0-9A-F]{16}$/ } done_files($node);
my @wal = @{ $list->{wal} // [] };
is(scalar(@wal), 1, 'list: WAL of one timeline');
my $w = $wal[0] // {};
check_json_types($w,
	{
		timeline      => 'number',
		history       => 'boolean',
		first_segment => 'string',
		last_segment  => 'string',
		segments      => 'number',
		stored_size   => 'number',
		partials      => 'array',
		gaps          => 'array'
	},
	'list: wal');
is($w->{timeline},      1,             'list: WAL timeline 1');
ok(!$w->{history},      'list: timeline 1 has no history file');
is($w->{first_segment}, $archived[0],  "list: first_segment = first archived segment ($archived[0])");
is($w->{last_segment},  $archived[-1], "list: last_segment = last archived segment ($archived[-1])");
is($w->{segments}, scalar(@archived), 'list: segments = number of .done segments (' . scalar(@archived) . ')');
is($w->{segments}, segno($archived[-1]) - segno($archived[0]) + 1,
	'list: as many segments as from first to last');
is_deeply($w->{partials}, [], 'list: no partial segments');
is_deeply($w->{gaps},     [], 'list: no gaps');
my $tl1_bytes = 0;
$tl1_bytes += (split / /)[1] for grep { m{^wal/00000001[^/]*/[^/]+ } } repo_listing($repo);
is($w->{stored_size}, $tl1_bytes, "list: WAL stored_size = bytes under wal/00000001* ($tl1_bytes)");

($rc, $out, $err) = br_tool_run('list', '--repo', $repo);
is($rc, 0, 'walvault list exits 0');
like($out, qr/\Q$label\E.*complete/, 'text list names the backup, complete');
like($out, qr/\Q$archived[0]\E.*\Q$archived[-1]\E/, 'text list shows the archived WAL range');

# ---- back to 1: lose the data directory and restore it ----

my $dump_before = dumpall($node);
$node->stop;
my $pgdata = $node->data_dir;
rmtree($pgdata);
mkdir($pgdata, 0700) or die "mkdir $pgdata: $!";

($rc, $out, $err) = br_tool_run('restore', 'LATEST', '--pgdata', $pgdata, '--repo', $repo);
is($rc, 0, 'walvault restore LATEST into the emptied data directory exits 0') or diag($err);
like($out, qr/restored backup "\Q$label\E" into "\Q$pgdata\E"/, 'restore names the backup and the directory');
ok(-f "$pgdata/global/pg_control", 'global/pg_control restored');
ok(-f "$pgdata/recovery.signal",   'recovery.signal written');
ok(!-e "$pgdata/standby.signal",   'no standby.signal');
my $auto = slurp_file("$pgdata/postgresql.auto.conf");
like($auto, qr/^restore_command = 'exec (\S+\/walvault) wal-fetch --repo=\Q$repo\E %f %p'$/m,
	'postgresql.auto.conf: restore_command runs walvault wal-fetch on this repository (exec: no shell left waiting)');
my ($fetch_tool) = $auto =~ /^restore_command = 'exec (\S+) wal-fetch/m;
ok(defined $fetch_tool && -x $fetch_tool, 'restore_command names an executable walvault');
unlike($auto, qr/^\s*recovery_target/m, 'no recovery target without one asked for');
my $label_file = slurp_file("$pgdata/backup_label");
my ($label_start) = $label_file =~ m{^START WAL LOCATION: ($LSN_RE) }m;
is($label_start, $start_lsn, 'backup_label START WAL LOCATION = start in the summary and list');

# ---- 2. pg_verifybackup accepts the restored directory, and notices a flipped byte in a copy ----

command_ok([ 'pg_verifybackup', '-n', $pgdata ], 'pg_verifybackup -n accepts the restored directory');
my $copy = PostgreSQL::Test::Utils::tempdir() . '/flipped';
PostgreSQL::Test::RecursiveCopy::copypath($pgdata, $copy);
br_flip_byte("$copy/$relpath");
command_fails_like([ 'pg_verifybackup', '-n', $copy ], qr/checksum mismatch for file "\Q$relpath\E"/,
	"pg_verifybackup -n rejects a copy with one byte flipped in $relpath");
rmtree($copy);

$node->start;
ok($node->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'),
	'recovery ended at the end of the archive and the server promoted itself');
my $dump_after = dumpall($node);
ok($dump_after eq $dump_before, 'pg_dumpall after the restore is identical to before ('
	  . length($dump_before) . ' bytes)')
  or diag_dump_difference($dump_before, $dump_after);
is($node->safe_psql('created_after', 'SELECT count(*) FROM n'), '1000',
	'the database created after the backup is there');
my $log = slurp_file($node->logfile);
like($log, qr/restored log file "$SEGMENT_RE" from archive/, 'WAL came from the archive');
like($log, qr/selected new timeline ID: 2/, 'promoted to timeline 2');
unlike($log, qr/walvault wal-fetch:/, 'no wal-fetch error');

# ---- 3. two tablespaces, restored as a second cluster with both moved ----

ok(wait_for_done($node, '00000002.history'), 'the new timeline\'s history file is archived');
my $ts1 = $node->basedir . '/ts_one_loc';
my $ts2 = $node->basedir . '/ts_two_loc';
mkdir($_, 0700) or die "mkdir $_: $!" for ($ts1, $ts2);
$node->safe_psql('postgres', "CREATE TABLESPACE ts_one LOCATION '$ts1'");
$node->safe_psql('postgres', "CREATE TABLESPACE ts_two LOCATION '$ts2'");
$node->safe_psql('postgres',
	"CREATE TABLE in_one (i int, t text) TABLESPACE ts_one;\n"
	  . "INSERT INTO in_one SELECT g, md5(g::text) FROM generate_series(1, 3000) g;\n"
	  . "CREATE TABLE in_two (i int, t text) TABLESPACE ts_two;\n"
	  . "INSERT INTO in_two SELECT g, md5((-g)::text) FROM generate_series(1, 2000) g;\n"
	  . 'CREATE INDEX in_two_i ON in_two (i) TABLESPACE ts_one;');
my %ts_oid = map { split /\|/ } split /\n/,
  $node->safe_psql('postgres', "SELECT spcname, oid FROM pg_tablespace WHERE spcname LIKE 'ts_%'");

($rc, $out, $err) = br_backup($node, $repo, '--label', 'with_tablespaces');
is($rc, 0, 'backup with two tablespaces exits 0') or diag($err);
my @ts_summary = $out =~ $SUMMARY_RE;
is($ts_summary[0], 'with_tablespaces', 'summary line names the --label');
is($ts_summary[4], 2, 'summary: timeline 2 (after the promotion)');

$node->safe_psql('postgres',
	"INSERT INTO in_one SELECT g, md5(g::text) FROM generate_series(3001, 3500) g;\n"
	  . 'DELETE FROM in_two WHERE i <= 100;');
$last = switch_wal($node);
ok(wait_for_done($node, $last), "changes after the tablespace backup archived ($last)");
my $ts_query =
  "SELECT (SELECT count(*) || ':' || sum(i) || ':' || md5(string_agg(t, '' ORDER BY i)) FROM in_one) || ' ' || "
  . "(SELECT count(*) || ':' || sum(i) || ':' || md5(string_agg(t, '' ORDER BY i)) FROM in_two)";
my $ts_expected = $node->safe_psql('postgres', $ts_query);

my $other = PostgreSQL::Test::Cluster->new('restored_ts');
my $new1 = $other->basedir . '/ts_one_new';
my $new2 = $other->basedir . '/ts_two_new';
($rc, $out, $err) = br_tool_run(
	'restore', 'with_tablespaces',
	'--pgdata', $other->data_dir, '--repo', $repo,
	'--tablespace-map', "$ts1=$new1", '--tablespace-map', "ts_two=$new2", '--archive-mode', 'off');
is($rc, 0, 'restore with --tablespace-map by old location and by name exits 0') or diag($err);
like($out, qr/^archiving: off \(archive_mode = off in postgresql.auto.conf\)/m,
	'--archive-mode off: the summary says the copy archives nothing');
like(slurp_file($other->data_dir . '/postgresql.auto.conf'), qr/^archive_mode = 'off'$/m,
	'--archive-mode off: archive_mode = off in postgresql.auto.conf');
is(readlink($other->data_dir . "/pg_tblspc/$ts_oid{ts_one}"), $new1,
	'pg_tblspc link of ts_one points at the new location (mapped by its old location)');
is(readlink($other->data_dir . "/pg_tblspc/$ts_oid{ts_two}"), $new2,
	'pg_tblspc link of ts_two points at the new location (mapped by name)');
my @restore_commands = slurp_file($other->data_dir . '/postgresql.auto.conf') =~ /^restore_command\b/mg;
is(scalar(@restore_commands), 1,
	'one restore_command in postgresql.auto.conf (the one the backup carried from the first restore is replaced)');
my @in_new1 = glob("$new1/PG_15_*/*");
my @in_new2 = glob("$new2/PG_15_*/*");
ok(@in_new1 && @in_new2,
	'both new locations hold a PG_15_* directory with files');

# The copy archives nothing (--archive-mode off): it shares the system identifier and repository with the
# primary, whose postgresql.conf (archive_mode = on, walvault.repo) the backup carries. After its promotion
# and a segment switch the repository holds exactly the objects it held before.
my @objects_before = sort(repo_object_files($repo));
br_configure_restored($other);
$other->start;
ok($other->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'restored copy promoted');
is($other->safe_psql('postgres', 'SHOW archive_mode'), 'off', 'the restored copy runs with archive_mode = off');
$other->safe_psql('postgres', 'CREATE TABLE after_promotion AS SELECT 1 AS i; SELECT pg_switch_wal()');
$other->safe_psql('postgres', 'CHECKPOINT');
my $copy_tli = sprintf('%08X', $other->safe_psql('postgres', 'SELECT timeline_id FROM pg_control_checkpoint()'));
my %before = map { $_ => 1 } @objects_before;
is_deeply([ grep { !$before{$_} && m{(^|/)$copy_tli} } repo_object_files($repo) ], [],
	"the promoted copy (timeline $copy_tli) added nothing to the repository: no WAL, no .history");
is($other->safe_psql('postgres', $ts_query), $ts_expected,
	'restored copy has the rows of both tablespaces, changes after the backup included');
is($other->safe_psql('postgres',
		"SELECT string_agg(spcname || '=' || pg_tablespace_location(oid), ' ' ORDER BY spcname) "
		  . "FROM pg_tablespace WHERE spcname LIKE 'ts_%'"),
	"ts_one=$new1 ts_two=$new2", 'the restored server sees its tablespaces at the new locations');
is($other->safe_psql('postgres',
		"SET enable_seqscan = off;\nSELECT count(*) FROM in_two WHERE i BETWEEN 500 AND 509"),
	'10', 'a scan of the index in the moved tablespace finds the rows');
$other->stop;

# ---- 4 (second part). two backups oldest first; backup-delete; a backup with --label ----

$list = br_list_json($repo) // {};
is_deeply([ map { "$_->{label} $_->{status}" } @{ $list->{backups} // [] } ],
	[ "$label complete", 'with_tablespaces complete' ], 'list: both backups, oldest first');
is(($list->{backups} // [])->[1]{tablespaces}, 2, 'list: the second backup has 2 tablespaces');
my ($tl2) = grep { $_->{timeline} == 2 } @{ $list->{wal} // [] };
ok($tl2 && JSON::PP::is_bool($tl2->{history}) && $tl2->{history}, 'list: timeline 2 has its history file');

($rc, $out, $err) = br_tool_run('backup-delete', $label, '--repo', $repo);
is($rc, 0, "backup-delete $label exits 0") or diag($err);
like($out, qr/deleted backup "\Q$label\E"/, 'backup-delete says what it deleted');
$list = br_list_json($repo) // {};
is_deeply([ map { $_->{label} } @{ $list->{backups} // [] } ], ['with_tablespaces'],
	'list no longer shows the deleted backup');
is_deeply([ grep { m{^backup/\Q$label\E/.*[^/] } } repo_listing($repo) ], [],
	'no object of the deleted backup is left');
($rc, $out, $err) = br_tool_run('list', '--repo', $repo);
unlike($out, qr/\Q$label\E/, 'text list no longer mentions it');
cmp_ok($list->{wal}[0]{segments} // 0, '>=', scalar(@archived), 'archived WAL is kept');

($rc, $out, $err) = br_backup($node, $repo, '--label', 'custom');
is($rc, 0, 'backup --label custom exits 0') or diag($err);
like($out, qr/^backup "custom" complete: /, 'summary names the custom label');
$list = br_list_json($repo) // {};
is_deeply([ map { "$_->{label} $_->{status}" } @{ $list->{backups} // [] } ],
	[ 'with_tablespaces complete', 'custom complete' ], 'list: two backups, oldest first');
($rc, $out, $err) = br_tool_run('list', '--repo', $repo);
ok(index($out, 'with_tablespaces') >= 0 && index($out, 'with_tablespaces') < index($out, 'custom'),
	'text list: both labels, oldest first');

# ---- 5. files in parts: --part-size 1 (MiB) parts every relation file above 1 MiB ----

($rc, $out, $err) = br_backup($node, $repo, '--label', 'bad_parts', '--part-size', '0');
isnt($rc, 0, 'backup --part-size 0 fails');
like($err, qr/part_size must be a number of MB from 1 to 1024, not "0" \(from --part_size\)/,
	'and says the range and where the value came from');

$node->safe_psql('postgres',
	"CREATE TABLE parted AS SELECT g, md5(g::text) AS h FROM generate_series(1, 150000) g;\n"
	  . 'CREATE INDEX parted_g ON parted (g);'
	  . "CREATE TABLE parted_ts TABLESPACE ts_one AS SELECT g, repeat(md5(g::text), 3) AS h FROM generate_series(1, 20000) g;");
my %parted_rel = map { $_ => $node->safe_psql('postgres', "SELECT pg_relation_filepath('$_')") }
  qw(parted parted_g parted_ts);
($rc, $out, $err) = br_backup($node, $repo, '--label', 'parted', '--part-size', '1');
is($rc, 0, 'backup --part-size 1 exits 0') or diag($err);
like($out, qr/^backup "parted" complete: /, 'summary names the backup in parts');

my $manifest = eval {
	JSON::PP->new->decode(slurp_file("$repo/backup/parted/backup.json"));
} // {};
is($manifest->{format}, 2, 'backup.json: format 2');
my %in_manifest = map { $_->{path} => $_ } @{ $manifest->{files} // [] };
my $mib = 1024 * 1024;
for my $rel (sort keys %parted_rel)
{
	# pg_relation_filepath names a tablespace's file as the backup does: pg_tblspc/OID/PG_15_.../DB/FILENODE.
	my $f = $in_manifest{ $parted_rel{$rel} } // {};
	my @parts = @{ $f->{parts} // [] };
	my $expected = int(($f->{size} // 0) / $mib) + (($f->{size} // 0) % $mib ? 1 : 0);
	cmp_ok($f->{size} // 0, '>', $mib, "$rel ($parted_rel{$rel}) is larger than the part size");
	is(scalar(@parts), $expected, "$rel: $expected parts in backup.json");
	ok(!exists $f->{sha256} && !exists $f->{stored_size}, "$rel: no whole-file sha256 or stored_size");
	is_deeply([ map { $_->{offset} } @parts ], [ map { $_ * $mib } 0 .. $#parts ], "$rel: part i at i MiB");
	is_deeply([ map { $_->{size} } @parts ],
		[ (($mib) x $#parts), ($f->{size} // 0) - $#parts * $mib ],
		"$rel: full parts, the last one to the end of the file");
	my @objects = grep { m{^backup/parted/data/\Q$parted_rel{$rel}\E\.zst} } map { (split / /)[0] } repo_listing($repo);
	is_deeply([ sort @objects ],
		[ sort map { "backup/parted/data/$parted_rel{$rel}.zst.$_" } 0 .. $#parts ],
		"$rel: one object per part, none for the whole file");
}
my $version_entry = $in_manifest{PG_VERSION} // {};
ok(!exists $version_entry->{parts} && length($version_entry->{sha256} // '') == 64,
	'a small file is one object with its sha256, as before');

$node->safe_psql('postgres',
	"UPDATE parted SET h = upper(h) WHERE g % 5 = 0;\n"
	  . "INSERT INTO parted SELECT g, md5(g::text) FROM generate_series(150001, 160000) g;\n"
	  . 'DELETE FROM parted_ts WHERE g % 3 = 0;');
$last = switch_wal($node);
ok(wait_for_done($node, $last), "changes after the backup in parts archived ($last)");
ok(wait_for_no_ready($node), 'nothing left to archive');

# Lose the data directory and both tablespaces' contents; restore the backup in parts in their place.
$dump_before = dumpall($node);
$node->stop;
rmtree($pgdata);
mkdir($pgdata, 0700) or die "mkdir $pgdata: $!";
rmtree([ glob("$ts1/PG_15_*"), glob("$ts2/PG_15_*") ]);
($rc, $out, $err) = br_tool_run('restore', 'parted', '--pgdata', $pgdata, '--repo', $repo, '--parallel', '2');
is($rc, 0, 'restore of the backup in parts exits 0') or diag($err);
like($out, qr/restored backup "parted" into "\Q$pgdata\E"/, 'restore names the backup in parts');
is(-s "$pgdata/$parted_rel{parted}", $in_manifest{ $parted_rel{parted} }{size},
	'a file in parts is restored to its size in backup.json');
my $pg_manifest = eval { JSON::PP->new->decode(slurp_file("$pgdata/backup_manifest")) } // {};
my ($pg_entry) = grep { $_->{Path} eq $parted_rel{parted} } @{ $pg_manifest->{Files} // [] };
is($pg_entry->{'Checksum-Algorithm'} // '', 'CRC32C',
	'backup_manifest gives a file in parts a CRC-32C (combined from its parts, nothing read back)');
like($pg_entry->{Checksum} // '', qr/^[0-9a-f]{8}$/, 'the CRC-32C is 8 hex digits');
my ($small_entry) = grep { $_->{Path} eq 'PG_VERSION' } @{ $pg_manifest->{Files} // [] };
is($small_entry->{Checksum} // '', (file_sha256("$pgdata/PG_VERSION"))[0],
	"backup_manifest has a file in one object's sha256");
command_ok([ 'pg_verifybackup', '-n', $pgdata ], 'pg_verifybackup -n accepts the restore of a backup in parts');
# PostgreSQL's own CRC-32C checks the combined value: one byte changed in the middle part fails it.
my $parted_path = "$pgdata/$parted_rel{parted}";
my $flip_at = int((-s $parted_path) / 2);
flip_byte($parted_path, $flip_at);
command_fails_like([ 'pg_verifybackup', '-n', $pgdata ],
	qr/checksum mismatch for file "\Q$parted_rel{parted}\E"/,
	'pg_verifybackup -n fails naming the file in parts once one of its bytes changed');
flip_byte($parted_path, $flip_at);
command_ok([ 'pg_verifybackup', '-n', $pgdata ], 'pg_verifybackup -n accepts it again with the byte back');

$node->start;
ok($node->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'),
	'the cluster restored from parts recovered and promoted itself');
$dump_after = dumpall($node);
ok($dump_after eq $dump_before, 'pg_dumpall after the restore from parts is identical to before ('
	  . length($dump_before) . ' bytes)')
  or diag_dump_difference($dump_before, $dump_after);
is($node->safe_psql('postgres', "SET enable_seqscan = off;\nSELECT count(*) FROM parted WHERE g BETWEEN 1000 AND 1099"),
	'100', 'a scan of the index restored from parts finds the rows');

$node->stop;
done_testing();

# Inverts the bits of the byte at offset in the file at path, in place.
# Every file under the repository directory, relative to it.
sub repo_object_files
{
	my ($dir) = @_;
	my @files;
	File::Find::find({ wanted => sub { push @files, $File::Find::name =~ s{^\Q$dir\E/}{}r if -f $_ }, no_chdir => 1 },
		$dir);
	return @files;
}

sub flip_byte
{
	my ($path, $offset) = @_;
	open my $fh, '+<:raw', $path or die "open $path: $!";
	sysseek($fh, $offset, 0) or die "seek $path: $!";
	sysread($fh, my $byte, 1) == 1 or die "read $path: $!";
	sysseek($fh, $offset, 0) or die "seek $path: $!";
	syswrite($fh, chr(ord($byte) ^ 0xff)) == 1 or die "write $path: $!";
	close $fh or die "close $path: $!";
	return;
}

# pg_dumpall of every database of the node, with a fixed key for psql's \restrict lines (random otherwise).
sub dumpall
{
	my ($n) = @_;
	my ($stdout, $stderr) =
	  run_command([ 'pg_dumpall', '--restrict-key=walvaulttest', '--dbname', $n->connstr('postgres') ]);
	die "pg_dumpall failed: $stderr" if $stderr =~ /error/i;
	return $stdout;
}

# Segment number of a segment file name.
sub segno
{
	my ($name) = @_;
	return hex(substr($name, 8, 8)) * (4294967296 / $segsize) + hex(substr($name, 16, 8));
}

# One test per field: present, with the given JSON type.
sub check_json_types
{
	my ($obj, $spec, $what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	for my $field (sort keys %$spec)
	{
		my $type = exists $obj->{$field} ? br_json_type($obj->{$field}) : 'absent';
		is($type, $spec->{$field}, "$what: \"$field\" is a JSON $spec->{$field}");
	}
	return;
}

# The first lines where two dumps differ.
sub diag_dump_difference
{
	my ($x, $y) = @_;
	my @a = split /\n/, $x;
	my @b = split /\n/, $y;
	for my $i (0 .. ($#a > $#b ? $#a : $#b))
	{
		next if ($a[$i] // '<none>') eq ($b[$i] // '<none>');
		diag("line $i before: " . ($a[$i] // '<none>') . "\nline $i after:  " . ($b[$i] // '<none>'));
		last;
	}
	return;
}
