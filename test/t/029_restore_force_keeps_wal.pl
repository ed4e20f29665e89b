# restore --force over a stopped primary does not lose the WAL that only its pg_wal holds.
#  - The primary's archiving breaks (its repository's WAL directory is read-only), so one complete segment
#    stays .ready, and a last commit is in the segment being written. The primary dies (immediate stop).
#  - restore --force into the same data directory first archives the .ready segment and the segment in
#    progress (as <segment>.partial), says so, then restores; started, recovery replays through wal-fetch,
#    which serves the partial under the segment's name, and promotes at its end: every commit is there, the
#    last one too.
#  - wal-fetch does not serve the partial to a standby (standby.signal), nor once a timeline has branched off
#    inside that segment (the promoted copy's timeline 2 holds it).
#  - restore --delta over the primary, crashed again on timeline 2, archives its segment in progress first too,
#    and recovery reaches the last commit.
#  - restore --force over the data directory of another database system refuses and removes nothing.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalvaultTest;

my $tool = $ENV{WALVAULT_TOOL} // 'walvault';
my $node = walvault_node('primary');
my $repo = $node->basedir . '/repo';
set_conf($node, 'walvault.repo' => "'$repo'", wal_keep_size => "'1GB'");
$node->start;

my ($rc, $out, $err) = br_backup($node, $repo);
is($rc, 0, 'walvault backup exits 0') or diag($err);
$node->safe_psql('postgres', "CREATE TABLE t (what text); INSERT INTO t VALUES ('archived')");
my $archived = switch_wal($node);
ok(wait_for_done($node, $archived), "$archived is archived");

# Archiving breaks: the repository's WAL directory is made read-only.
my $wal_dir = substr(object_path($repo, $archived), 0, rindex(object_path($repo, $archived), '/'));
chmod 0500, $wal_dir or die "chmod $wal_dir: $!";
$node->safe_psql('postgres', "INSERT INTO t VALUES ('in a ready segment')");
my $ready = switch_wal($node);
$node->safe_psql('postgres', "INSERT INTO t VALUES ('in the segment in progress')");
my $current = $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_current_wal_lsn())');
ok(wait_until(sub { archiver_stats($node)->{failed_count} > 0 }), 'archiving fails');
$node->stop('immediate');  # the primary dies: a clean shutdown would switch to a new segment first
chmod 0700, $wal_dir or die "chmod $wal_dir: $!";
my $pgdata = $node->data_dir;
ok(-f "$pgdata/pg_wal/archive_status/$ready.ready", "$ready is still .ready when the primary stops");
ok(!-e "$pgdata/postmaster.pid", 'the primary is down');
ok(!-e object_path($repo, $ready),              '... and not in the repository');

($rc, $out, $err) = br_tool_run('restore', '--repo', $repo, '--pgdata', $pgdata, '--force');
is($rc, 0, 'restore --force over the stopped primary exits 0') or diag($err);
like($out, qr/^archived from the old pg_wal before replacing it: \d+ files the repository lacked .*; the segment in progress as \Q$current\E\.partial$/m,
	'... saying it archived the old pg_wal first');
ok(-f object_path($repo, $ready), "the .ready segment $ready is in the repository");
ok(-f object_path($repo, "$current.partial"), "the segment in progress is there as $current.partial");

$node->start;
ok(wait_until(sub { $node->safe_psql('postgres', 'SELECT NOT pg_is_in_recovery()') eq 't' }, 120),
	'the restored primary finished recovery');
is($node->safe_psql('postgres', 'SELECT string_agg(what, \', \' ORDER BY what) FROM t'),
	'archived, in a ready segment, in the segment in progress', 'every commit is there, the last one too');
like(slurp_file($node->logfile), qr/restored "\Q$current\E" from "\Q$current\E\.partial"/,
	'the server log says wal-fetch served the partial');

# wal-fetch run by hand in a directory; returns the exit status.
sub fetch_in
{
	my ($dir, $file) = @_;
	my ($fout, $ferr) = ('', '');
	IPC::Run::run([ $tool, 'wal-fetch', '--repo', $repo, $file, "$dir/$file" ],
		'<', \undef, '>', \$fout, '2>', \$ferr, init => sub { chdir $dir or die "chdir $dir: $!" });
	note("wal-fetch $file in $dir: exit " . ($? >> 8) . ($ferr ne '' ? "\nstderr: $ferr" : ''));
	return $? >> 8;
}
my $standby_dir = PostgreSQL::Test::Utils::tempdir();
PostgreSQL::Test::Utils::append_to_file("$standby_dir/standby.signal", '');
is(fetch_in($standby_dir, $current), 1, 'a standby is not served the partial: wal-fetch exits 1');

# The promoted copy's timeline 2 branched off inside the segment; once its history is archived, the
# partial is another history's end.
my $history = '00000002.history';
ok(wait_until(sub { -f object_path($repo, $history) }), "$history is archived");
my $plain_dir = PostgreSQL::Test::Utils::tempdir();
is(fetch_in($plain_dir, $current), 1, 'with timeline 2 branched off inside it, the partial is not served');
$node->stop;

# restore --delta over a crashed primary keeps its last commit the same way, on timeline 2 now.
$node->start;
$node->safe_psql('postgres', "INSERT INTO t VALUES ('on timeline 2, just before the crash')");
my $current2 = $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_current_wal_lsn())');
$node->stop('immediate');
($rc, $out, $err) = br_tool_run('restore', '--repo', $repo, '--pgdata', $pgdata, '--delta');
is($rc, 0, 'restore --delta over the crashed primary exits 0') or diag($err);
like($out, qr/; the segment in progress as \Q$current2\E\.partial$/m, '... archiving its segment in progress first');
$node->start;
ok(wait_until(sub { $node->safe_psql('postgres', 'SELECT NOT pg_is_in_recovery()') eq 't' }, 120),
	'the delta-restored primary finished recovery');
is($node->safe_psql('postgres', "SELECT count(*) FROM t WHERE what = 'on timeline 2, just before the crash'"),
	'1', 'the commit made just before the crash is there');
$node->stop;

# Another system's data directory is not replaced.
my $other = new_node('other');
$other->init;
($rc, $out, $err) = br_tool_run('restore', '--repo', $repo, '--pgdata', $other->data_dir, '--force');
isnt($rc, 0, "restore --force over another system's data directory fails");
like($err, qr/nothing was removed: the data directory .* belongs to database system \d+, the repository .* to \d+/,
	'... naming both systems');
ok(-f $other->data_dir . '/PG_VERSION' && -f $other->data_dir . '/global/pg_control', '... and the directory is intact');

done_testing();
