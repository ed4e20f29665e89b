# The archiver killed (SIGKILL) in the middle of archiving: PostgreSQL restarts (crash recovery), and
# walvault picks up where it was. Eventually every .ready file is archived, every object restores its
# original, and no temporary file is left behind in the repository.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalvaultTest;

my $node = walvault_node('main');
my $repo = $node->basedir . '/repo';
# zstd:19 on random hex text takes seconds per segment: the archiver is sure to be busy when killed.
# (Random bytes would not do: walvault stores what does not compress without trying.)
$node->append_conf(
	'postgresql.conf', qq(
walvault.repo = '$repo'
walvault.compression = 'zstd:19'
restart_after_crash = on
));
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION walvault');

# A backlog: a few segments of random hex text.
my @backlog = make_segments($node, 6, 'hex');
note('backlog: ' . join(' ', @backlog));

# Kill the archiver while it is writing an object (a hidden temporary file exists).
my @in_flight;
ok(wait_until(sub { @in_flight = repo_temp_files($repo); scalar @in_flight }, 60),
	'archiver busy: temporary files in the repository: ' . join(' ', @in_flight));
my $pid = archiver_pid($node);
like($pid, qr/^\d+$/, "archiver PID $pid");
my @ready_before = ready_files($node);
cmp_ok(scalar(@ready_before), '>', 0, scalar(@ready_before) . ' files still .ready when the archiver is killed');
my $log_offset = -s $node->logfile;
ok(kill('KILL', $pid), "archiver (PID $pid) killed with SIGKILL");

# The postmaster treats that as a crash: all processes are reinitialised, then crash recovery.
$node->wait_for_log(qr/archiver process \(PID $pid\) was terminated by signal 9/, $log_offset);
$node->wait_for_log(qr/all server processes terminated; reinitializing/, $log_offset);
$node->wait_for_log(qr/database system is ready to accept connections/, $log_offset);
ok($node->poll_query_until('postgres', 'SELECT 1', '1'), 'server accepts connections again after crash recovery');
ok($node->log_contains(qr/database system was not properly shut down; automatic recovery in progress/, $log_offset),
	'crash recovery ran');
my $new_pid;
ok(wait_until(sub { $new_pid = archiver_pid($node); $new_pid =~ /^\d+$/ && $new_pid != $pid }),
	"a new archiver runs (PID $new_pid)");

# Faster compression from now on.
set_conf($node, 'walvault.compression' => "'zstd:3'");
$node->reload;
ok($node->poll_query_until('postgres', 'SHOW walvault.compression', 'zstd:3'), 'walvault.compression = zstd:3 after reload');

ok(wait_for_no_ready($node), 'eventually no .ready file is left');
ok(wait_for_done($node, @backlog), 'every segment of the backlog is marked archived');
for my $name (done_files($node))
{
	check_archived($repo, $node, $name);
}
is_deeply([ repo_temp_files($repo) ], [], 'no temporary file left anywhere in the repository');

my $st = walvault_status($node);
is($st->{pending_count}, 0, 'walvault_status: pending_count 0');
# Nothing failed after the crash either, the reload included: walvault must not trip over its own
# work in flight (old settings) when PostgreSQL asks for the same file under the new settings.
is($st->{failed_count}, 0, 'walvault_status: no archive failure after the crash restart and the reload');
cmp_ok($st->{archived_count}, '>=', 1, "walvault_status: $st->{archived_count} files archived since the restart");

# Archiving goes on normally afterwards.
my $after = switch_wal($node);
ok(wait_for_done($node, $after), "$after archived after the crash");
check_archived($repo, $node, $after);

$node->stop;
done_testing();
