# Point-in-time recovery with walvault backup and walvault restore, on a posix repository and real clusters.
#  - The pghoard scenario: backup "first"; databases aa and bb; then a transaction X, a time T, an LSN L and a
#    restore point before_cc; then database cc. A restore to each target, promoted, has aa and bb and not cc;
#    to the end of the backup (--target-immediate) none of them; with --target-action pause the server stays
#    paused in recovery. Without a label, restore picks the newest backup that finished before the target.
#  - Timelines: the old primary dies (immediate stop) before completing the segment of before_cc and cc; the
#    first backup restored to before_cc and promoted (with that unarchived segment copied into its pg_wal, as
#    PostgreSQL's documentation says to) switches to timeline 2 and archives 00000002.history and the
#    .partial of timeline 1 into the same repository; it gets database dd and backup "second". Restoring LATEST follows timeline 2 (aa, bb, dd, no cc); restoring "first" with
#    --target-timeline 1 reaches a restore point after cc on timeline 1 (cc, no dd). walvault list --json
#    shows both timelines, the history file of 2 and the partial of 1.
# Restored clusters other than the timeline-2 one run with archive_mode = off: each promotion makes a new
# timeline, and their history files in the shared repository would change what "latest" means for the next.
use strict;
use warnings;

use File::Copy;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);
use WalvaultTest;

my $primary = walvault_node('primary');
my $repo = $primary->basedir . '/repo';
set_conf($primary, 'walvault.repo' => "'$repo'");
$primary->start;
my @repo_args = ('--repo', $repo);
my $sysid = $primary->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
my $no_archive = "archive_mode = off\n";
# The backup_manifest the server writes itself (BASE_BACKUP), which restored manifests must match: fetched
# now, as the primary is down when the first restore is checked.
my $server_manifest = server_manifest($primary);

# ---- the history to recover in: first | aa bb X T L | before_cc cc after_cc ----
my $first = pitr_backup($primary, 'first', @repo_args);
is($first && $first->{timeline}, 1, 'backup "first" is on timeline 1');
sleep(2);    # backups record their end in whole seconds: T must be in a later second
$primary->safe_psql('postgres', 'CREATE DATABASE aa');
$primary->safe_psql('postgres', 'CREATE DATABASE bb');
my $xid = $primary->safe_psql('postgres', 'SELECT txid_current()');
sleep(0.2);
my $time = $primary->safe_psql('postgres',
	"SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'");
sleep(0.2);
my $lsn = $primary->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
note("targets: xid $xid, time $time, LSN $lsn");

# before_cc, cc and after_cc in a segment of their own, which the primary has not archived when it stops.
my $seg_before = switch_wal($primary);
my $seg = $primary->safe_psql('postgres', "SELECT pg_walfile_name(pg_create_restore_point('before_cc'))");
$primary->safe_psql('postgres', 'CREATE DATABASE cc');
is($primary->safe_psql('postgres', "SELECT pg_walfile_name(pg_create_restore_point('after_cc'))"),
	$seg, "before_cc, cc and after_cc are all in segment $seg");
# A commit that writes WAL flushes it (one that only takes an xid commits asynchronously): after_cc then
# survives the crash below.
$primary->safe_psql('postgres', 'CREATE TABLE after_cc_flushed ()');
ok(wait_for_done($primary, $seg_before), "the primary archived everything up to $seg_before");
# The primary dies (a clean stop would switch to a new segment and archive $seg).
$primary->stop('immediate');
ok(!-e object_path($repo, $seg), "$seg, the primary's last segment, is not in the repository");

# ---- timeline 2: "first" restored to before_cc, promoted, archiving into the same repository ----
my ($tl2, $rc, $out, $err) = pitr_restore_node('timeline2',
	args => [ 'first', @repo_args, '--target-name', 'before_cc', '--target-action', 'promote' ],
	verify => 1, server_manifest => $server_manifest);
is($rc, 0, 'timeline 2: walvault restore first --target-name before_cc exits 0');
like($out, qr/^restored backup "first" into "\Q${\ $tl2->data_dir }\E"/m, 'timeline 2: stdout names the backup');
my $auto_conf = slurp_file($tl2->data_dir . '/postgresql.auto.conf');
like($auto_conf, qr/^recovery_target_name = 'before_cc'$/m, 'timeline 2: postgresql.auto.conf has the target');
like($auto_conf, qr/^restore_command = '.*wal-fetch.*%f %p'$/m, 'timeline 2: ... and a wal-fetch restore_command');
ok(-e $tl2->data_dir . '/recovery.signal', 'timeline 2: recovery.signal written');
copy($primary->data_dir . "/pg_wal/$seg", $tl2->data_dir . "/pg_wal/$seg")
  or die "could not copy $seg: $!";
$tl2->start;
ok($tl2->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'timeline 2: recovery ended, promoted');
is($tl2->safe_psql('postgres',
		"SELECT current_setting('archive_mode') || ' ' || current_setting('archive_library') || ' ' || "
		  . "current_setting('walvault.repo')"),
	"on walvault $repo", "timeline 2: the backup's postgresql.conf came back: it archives into the same repository");
is_deeply(pitr_databases($tl2, qw(aa bb cc)), { aa => 1, bb => 1, cc => 0 }, 'timeline 2: has aa and bb, not cc');
ok($tl2->log_contains(qr/recovery stopping at restore point "before_cc"/), 'timeline 2: stopped at before_cc');
ok($tl2->log_contains(qr/redo starts at .*\n(?s:.*)\n[^\n]*LOG:  recovery stopping at restore point/),
	'timeline 2: replayed WAL before stopping');
ok($tl2->poll_query_until('postgres', 'SELECT timeline_id FROM pg_control_checkpoint()', '2'),
	'timeline 2: the checkpoint after promotion is on timeline 2');
my $partial = "$seg.partial";
ok(wait_for_done($tl2, '00000002.history', $partial), "timeline 2: 00000002.history and $partial archived");
check_archived($repo, $tl2, '00000002.history');
check_archived($repo, $tl2, $partial);
like(slurp_file($tl2->data_dir . '/pg_wal/00000002.history'),
	qr{^1\t[0-9A-F]+/[0-9A-F]+\tat restore point "before_cc"\n\z},
	'timeline 2: the history file says it branched from timeline 1 at before_cc');

$tl2->safe_psql('postgres', 'CREATE DATABASE dd');
my $second = pitr_backup($tl2, 'second', @repo_args);
is($second && $second->{timeline}, 2, 'backup "second" is on timeline 2');
my $tl2_last = switch_wal($tl2);
ok(wait_for_done($tl2, $tl2_last), "timeline 2: archived up to $tl2_last");
$tl2->stop;

# The old primary comes back on timeline 1 (nothing else writes timeline 1) and completes its segment.
$primary->start;
my $tl1_last = switch_wal($primary);
ok(wait_for_done($primary, $seg, $tl1_last), "the old primary archives $seg (complete) and $tl1_last on timeline 1");
$primary->stop;

# ---- restores to targets on timeline 1 ----
my %before_cc = (aa => 1, bb => 1, cc => 0, dd => 0);
my @scenarios = (
	{
		name   => 'transaction X',
		args   => [ '--target-xid', $xid ],
		chosen => 'first',
		log    => qr/recovery stopping after commit of transaction \Q$xid\E,/,
		dbs    => \%before_cc,
	},
	{
		name   => 'time T',
		args   => [ '--target-time', $time ],
		chosen => 'first',
		log    => qr/recovery stopping before commit of transaction \d+,/,
		dbs    => \%before_cc,
	},
	{
		name   => 'LSN L',
		args   => [ '--target-lsn', $lsn ],
		chosen => 'first',
		log    => qr{recovery stopping after WAL location \(LSN\) "[0-9A-F]+/[0-9A-F]+"},
		dbs    => \%before_cc,
	},
	{
		name   => 'restore point before_cc',
		args   => [ 'first', '--target-name', 'before_cc' ],
		chosen => 'first',
		log    => qr/recovery stopping at restore point "before_cc"/,
		dbs    => \%before_cc,
	},
	{
		name   => 'end of the backup',
		args   => [ 'first', '--target-immediate' ],
		chosen => 'first',
		log    => qr/recovery stopping after reaching consistency/,
		dbs    => { aa => 0, bb => 0, cc => 0, dd => 0 },
	});
my $n = 0;
for my $sc (@scenarios)
{
	my $name = $sc->{name};
	my ($node, $rc, $out) = pitr_restore_node('target' . ++$n,
		args => [ @{ $sc->{args} }, @repo_args, '--target-action', 'promote' ],
		conf => $no_archive);
	is($rc, 0, "$name: walvault restore exits 0");
	like($out, qr/^restored backup "\Q$sc->{chosen}\E" into/m, "$name: restored backup \"$sc->{chosen}\"");
	$node->start;
	ok($node->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), "$name: recovery ended, promoted");
	ok($node->log_contains($sc->{log}), "$name: the server log says where recovery stopped");
	ok(!$node->log_contains(qr/walvault wal-fetch:/), "$name: no wal-fetch error (probes for missing files are quiet)");
	is_deeply(pitr_databases($node, sort keys %{ $sc->{dbs} }), $sc->{dbs},
		"$name: databases " . join(', ', map { "$_ " . ($sc->{dbs}{$_} ? 'present' : 'absent') } sort keys %{ $sc->{dbs} }));
	$node->stop;
}

# --target-action pause: the server stays in recovery, paused at the target, readable.
{
	my ($node, $rc, $out) = pitr_restore_node('paused',
		args => [ @repo_args, '--target-xid', $xid, '--target-action', 'pause' ],
		conf => $no_archive);
	is($rc, 0, 'pause: walvault restore exits 0');
	$node->start;
	ok($node->poll_query_until('postgres', 'SELECT pg_get_wal_replay_pause_state()', 'paused'),
		'pause: replay is paused at the target');
	is($node->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'pause: still in recovery');
	is_deeply(pitr_databases($node, qw(aa bb cc)), { aa => 1, bb => 1, cc => 0 }, 'pause: has aa and bb, not cc');
	$node->stop;
}

# Targets no backup can reach: refused before anything is written.
{
	my ($node, $rc, $out, $err) = pitr_restore_node('too_early',
		args => [ @repo_args, '--target-time', '2000-01-01 00:00:00+00' ]);
	is($rc, 1, 'a target before every backup: exit 1');
	like($err, qr/no backup finished before the recovery target/, '... says no backup finished before it');
	ok(!-e $node->data_dir, '... and creates no data directory');

	($node, $rc, $out, $err) = pitr_restore_node('too_late', args => [ 'second', @repo_args, '--target-xid', $xid ]);
	is($rc, 1, 'backup "second" with a target before its end: exit 1');
	like($err, qr/backup "second" finished at .* after the recovery target/, '... says the backup ended after it');
	ok(!-e $node->data_dir, '... and creates no data directory');
}

# ---- timelines ----
# (a) LATEST, no target: the newest backup ("second", timeline 2), recovered to the end of timeline 2.
{
	my ($node, $rc, $out, $err) = pitr_restore_node('latest', args => [@repo_args], conf => $no_archive);
	is($rc, 0, 'LATEST: walvault restore exits 0');
	like($out, qr/^restored backup "second" into/m, 'LATEST: restored backup "second", the newest');
	like($err, qr/removed \d+ recovery setting\(s\) the backup's postgresql\.auto\.conf carried/,
		"LATEST: the recovery settings of timeline 2's own restore were removed");
	unlike(slurp_file($node->data_dir . '/postgresql.auto.conf'), qr/before_cc/, 'LATEST: ... none is left');
	$node->start;
	ok($node->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'LATEST: recovery ended, promoted');
	is_deeply(pitr_databases($node, qw(aa bb cc dd)), { aa => 1, bb => 1, cc => 0, dd => 1 },
		'LATEST: has aa, bb and dd, not cc');
	ok($node->poll_query_until('postgres', 'SELECT timeline_id FROM pg_control_checkpoint()', '3'),
		'LATEST: promoted to timeline 3, after the newest in the repository (2)');
	ok(!$node->log_contains(qr/walvault wal-fetch:/), 'LATEST: no wal-fetch error');
	$node->stop;
}

# (b) "first" along timeline 1, past the point where timeline 2 branched off.
{
	my ($node, $rc, $out) = pitr_restore_node('timeline1',
		args => [ 'first', @repo_args, '--target-timeline', '1', '--target-name', 'after_cc', '--target-action', 'promote' ],
		conf => $no_archive);
	is($rc, 0, 'timeline 1: walvault restore exits 0');
	like($out, qr/^restored backup "first" into/m, 'timeline 1: restored backup "first"');
	$node->start;
	ok($node->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'timeline 1: recovery ended, promoted');
	ok($node->log_contains(qr/recovery stopping at restore point "after_cc"/), 'timeline 1: stopped at after_cc');
	is_deeply(pitr_databases($node, qw(aa bb cc dd)), { aa => 1, bb => 1, cc => 1, dd => 0 },
		'timeline 1: has aa, bb and cc, not dd');
	ok(!$node->log_contains(qr/walvault wal-fetch:/), 'timeline 1: no wal-fetch error');
	$node->stop;
}

# ---- what walvault list --json shows ----
my $list = pitr_list(@repo_args);
is($list && $list->{system_identifier}, $sysid, 'list: system_identifier of the primary');
is_deeply([ map { "$_->{label} $_->{status} timeline $_->{timeline}" } @{ $list ? $list->{backups} : [] } ],
	[ 'first complete timeline 1', 'second complete timeline 2' ], 'list: both backups, oldest first');
my %wal = map { ($_->{timeline} => $_) } @{ $list ? $list->{wal} : [] };
is_deeply([ sort keys %wal ], [ 1, 2 ], 'list: WAL of timelines 1 and 2');
ok($wal{1} && !$wal{1}{history}, 'list: timeline 1 has no history file');
ok($wal{2} && $wal{2}{history},  'list: timeline 2 has its history file');
is_deeply($wal{1} && $wal{1}{partials}, [$partial], "list: timeline 1 has the partial $partial");
is_deeply($wal{2} && $wal{2}{partials}, [], 'list: timeline 2 has no partial');
is($wal{2} && $wal{2}{first_segment}, '00000002' . substr($seg, 8), 'list: timeline 2 starts at the segment where it branched');
is($wal{1} && $wal{1}{last_segment}, $tl1_last, "list: timeline 1 goes on to $tl1_last");
is_deeply([ map { $wal{$_} && $wal{$_}{gaps} } 1, 2 ], [ [], [] ], 'list: no gaps');

done_testing();
