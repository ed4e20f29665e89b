# End-to-end archiving: what a DBA checks after enabling walvault. Every file PostgreSQL marked archived
# (.done) has its object at the documented key, stock "zstd -d" restores the pg_wal original byte for
# byte, the trailer records the original; walvault_status() agrees with pg_stat_archiver. Then a
# promoted standby archives its timeline history file and the .partial segment of the old timeline, and
# walvault.compression = 'none' still stores objects that zstd restores.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use WalvaultTest;

my $node = walvault_node('primary');
my $repo = $node->basedir . '/repo';    # created by walvault on first use
$node->append_conf('postgresql.conf', "walvault.repo = '$repo'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION walvault');
my $segsize = segment_size($node);

# Some real WAL: pgbench's tables, a few switches, and a backup, whose .backup history file is archived
# too (pg_backup_stop waits for it).
$node->command_ok([ 'pgbench', '-i', '-s', '2', '-q', 'postgres' ], 'pgbench -i -s 2');
my @switched = map { switch_wal($node) } 1 .. 3;
# The backup history file is named after the backup's start: <segment>.<offset in hex>.backup
my $backup_out = $node->safe_psql('postgres',
	"SELECT file_name || '.' || lpad(upper(to_hex(file_offset)), 8, '0') || '.backup' "
	  . "FROM pg_walfile_name_offset(pg_backup_start('walvault-001', true));\n"
	  . "SELECT pg_backup_stop() IS NOT NULL");
my $backup_file = (split /\n/, $backup_out)[0];
push @switched, switch_wal($node);

ok(wait_for_no_ready($node), 'archiver catches up: no .ready file left');
my @done = done_files($node);
ok((grep { $_ eq $switched[-1] } @done), "last switched segment $switched[-1] is marked archived");
ok((grep { $_ eq $backup_file } @done), "backup history file $backup_file is marked archived");

# walvault reports a file archived before PostgreSQL counts it; wait until the two agree.
my $caught_up = wait_until(
	sub {
		my $st = walvault_status($node);
		my $pg = archiver_stats($node);
		return $pg->{archived_count} == scalar(@done)
		  && $st->{archived_count} == $pg->{archived_count};
	});
ok($caught_up, 'pg_stat_archiver and walvault_status() count every .done file');

# The repository identity.
my $sysid = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
my $identity_text = slurp_file("$repo/identity.json");
my $identity = JSON::PP->new->decode($identity_text);
is($identity->{system_identifier}, $sysid, 'identity.json: system_identifier of this cluster');
like($identity_text, qr/"system_identifier"\s*:\s*"\Q$sysid\E"/, 'identity.json: system_identifier is a JSON string');
is($identity->{wal_segment_size}, $segsize, 'identity.json: wal_segment_size');

# Every archived file: object at the documented key, restored byte for byte, trailer.
my ($bytes_in, $bytes_out) = (0, 0);
for my $name (@done)
{
	check_archived($repo, $node, $name);
	$bytes_in  += -s $node->data_dir . "/pg_wal/$name";
	$bytes_out += -s object_path($repo, $name) // 0;
}
my @segments = grep { /^[0-9A-F]{24}$/ } @done;
cmp_ok(scalar(@segments), '>=', 4, 'several segments archived (' . scalar(@segments) . ')');
ok((grep { -s $node->data_dir . "/pg_wal/$_" == $segsize } @segments) == @segments,
	'archived segments are full-size in pg_wal');

# What walvault_status() says, against pg_stat_archiver and the files themselves.
my $st = walvault_status($node);
my $pg = archiver_stats($node);
is($st->{repo},              $repo,                   'walvault_status: repo');
is($st->{archived_count},    $pg->{archived_count},   'walvault_status: archived_count = pg_stat_archiver');
is($st->{archived_count},    scalar(@done),           'walvault_status: archived_count = number of .done files');
is($st->{last_archived_wal}, $pg->{last_archived_wal}, 'walvault_status: last_archived_wal = pg_stat_archiver');
ok(defined $st->{last_archived_time}, 'walvault_status: last_archived_time set');
is($st->{failed_count},      0,                       'walvault_status: failed_count 0');
is($pg->{failed_count},      0,                       'pg_stat_archiver: failed_count 0');
is($st->{last_failed_wal},   undef,                   'walvault_status: no last_failed_wal');
is($st->{last_error},        undef,                   'walvault_status: no last_error');
is($st->{bytes_in},          $bytes_in,               "walvault_status: bytes_in = size of the originals ($bytes_in)");
is($st->{bytes_out},         $bytes_out,              "walvault_status: bytes_out = size of the objects ($bytes_out)");
cmp_ok($st->{bytes_out}, '<', $st->{bytes_in}, 'walvault_status: zstd:3 stores less than it reads');
ok(defined $st->{last_duration_ms} && $st->{last_duration_ms} >= 0, 'walvault_status: last_duration_ms set');
is($st->{pending_count},     0,                       'walvault_status: pending_count 0');

# walvault_reset_status() zeroes the counters, then they count again.
$node->safe_psql('postgres', 'SELECT walvault_reset_status()');
$st = walvault_status($node);
is_deeply([ @{$st}{qw(archived_count failed_count bytes_in bytes_out last_archived_wal)} ],
	[ 0, 0, 0, 0, undef ], 'walvault_reset_status() zeroes the counters');
my $after_reset = switch_wal($node);
ok(wait_for_done($node, $after_reset), "$after_reset archived after reset");
$st = wait_for_status($node, sub { $_[0]{archived_count} >= 1 });
is($st && $st->{last_archived_wal}, $after_reset, 'counting again after reset: last_archived_wal');
check_archived($repo, $node, $after_reset);

# ---- timeline switch: a promoted standby archives 00000002.history and the .partial of timeline 1 ----
# The standby from a walvault backup and restore --standby: the installed pg_basebackup may be of an older
# major than the server (scripts/test-major.sh), and refuses newer servers.
my $standby = walvault_standby($node, 'standby', $repo);
# The backup's postgresql.conf already has archive_mode = on and the same walvault.repo: say it again.
$standby->append_conf('postgresql.conf', "archive_mode = on\nwalvault.repo = '$repo'");
$standby->start;
$node->safe_psql('postgres', 'CREATE TABLE after_backup AS SELECT generate_series(1, 1000) AS i');
$node->wait_for_catchup($standby, 'replay', $node->lsn('insert'));

$standby->promote;
ok($standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'standby promoted');
$standby->safe_psql('postgres', 'INSERT INTO after_backup SELECT generate_series(1, 1000)');
my $tl2_segment = switch_wal($standby);
like($tl2_segment, qr/^00000002/, "new timeline's segment $tl2_segment");

my @partials = sort map { /^(00000001[0-9A-F]{16}\.partial)\.(?:ready|done)$/ ? $1 : () }
  slurp_dir($standby->data_dir . '/pg_wal/archive_status');
is(scalar(@partials), 1, 'promotion left one .partial segment of timeline 1: ' . join(' ', @partials));
ok(wait_for_done($standby, '00000002.history', @partials, $tl2_segment),
	'standby archived 00000002.history, the .partial and its first new segment');
check_archived($repo, $standby, '00000002.history');
check_archived($repo, $standby, $_) for @partials;
check_archived($repo, $standby, $tl2_segment);
ok(-f "$repo/wal/00000002.history.zst", 'wal/00000002.history.zst exists');
my $standby_st = walvault_status($standby);
is($standby_st->{failed_count}, 0, 'standby: walvault_status failed_count 0');
$standby->stop;

# ---- walvault.compression = 'none': still a zstd stream, about as large as the segment ----
set_conf($node, 'walvault.compression' => "'none'");
$node->reload;
ok($node->poll_query_until('postgres', 'SHOW walvault.compression', 'none'), "walvault.compression = 'none' after reload");
$node->safe_psql('postgres', 'INSERT INTO after_backup SELECT generate_series(1, 100)');
my $raw_segment = switch_wal($node);
ok(wait_for_done($node, $raw_segment), "$raw_segment archived with compression none");
my $meta = check_archived($repo, $node, $raw_segment, "$raw_segment (none)");
is($meta && $meta->{compression}, 'none', "trailer says compression 'none'");
my $raw_size = -s object_path($repo, $raw_segment);
cmp_ok($raw_size, '>=', $segsize, "object ($raw_size bytes) not smaller than the segment");
cmp_ok($raw_size, '<', $segsize * 1.01, 'object at most 1% larger than the segment');
my $zstd_meta = read_trailer(object_path($repo, $after_reset));
is($zstd_meta && $zstd_meta->{compression}, 'zstd:3', 'earlier objects say zstd:3 (the default)');

# Nothing half-written anywhere.
is_deeply([ repo_temp_files($repo) ], [], 'no temporary files in the repository');
is(walvault_status($node)->{failed_count}, 0, 'no failure at all');
ok(!$node->log_contains(qr/${\ failure_level($node)}:  could not archive/), 'no archive failure in the server log');

$node->stop;
done_testing();
