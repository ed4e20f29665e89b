# A slow repository must not hold up "pg_ctl stop": once the postmaster asks the archiver to finish,
# walvault keeps archiving at most walvault.shutdown_timeout, and what is left stays .ready for the next
# start. Nothing is lost: after a restart every segment of the backlog is archived and restores.
# With a store that never answers, the whole pg_ctl stop stays within walvault.shutdown_timeout plus
# $stop_margin (docs/configuration.md).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time);
use WalvaultTest;

my $backlog_size = 50;
my $stop_margin  = 1.5;    # seconds past walvault.shutdown_timeout a stop may take (docs/configuration.md)

# walvault.repo = '' means "not configured": PostgreSQL lets .ready files pile up.
my $node = walvault_node('main', conf => "walvault.repo = ''\n");
my $repo = $node->basedir . '/repo';
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION walvault');

# Builds a backlog of $backlog_size .ready segments while archiving is not configured, from @kinds
# (kind => count) then empty segments. Returns the segment names.
sub build_backlog
{
	my (@kinds) = @_;
	my @names;
	while (my ($kind, $count) = splice(@kinds, 0, 2))
	{
		push @names, make_segments($node, $count, $kind);
	}
	push @names, make_segments($node, $backlog_size - @names, 'empty');
	return @names;
}

# Stops the node, returning the seconds pg_ctl stop -m fast took.
sub timed_stop
{
	my $start = time();
	my $ok = $node->stop('fast', fail_ok => 1);
	my $elapsed = time() - $start;
	ok($ok, 'pg_ctl stop -m fast succeeded');
	# If pg_ctl gave up waiting, stop harder so that the rest of the test can go on and report.
	$node->stop('immediate', fail_ok => 1) unless $ok;
	return $elapsed;
}

# After a restart: every segment of the backlog is archived and restores its original.
sub check_nothing_lost
{
	my ($label, @backlog) = @_;
	ok(wait_for_done($node, @backlog), "$label: every segment of the backlog archived after the restart");
	ok(wait_for_no_ready($node), "$label: no .ready file left");
	check_archived($repo, $node, $_, "$label: $_") for @backlog;
	is_deeply([ repo_temp_files($repo) ], [], "$label: no temporary file in the repository");
	my $st = walvault_status($node);
	is($st->{pending_count}, 0, "$label: walvault_status pending_count 0");
}

# ---- slow: zstd:19 on incompressible segments, shutdown_timeout 3s ----
# The first segment is nearly empty (archived at once: archiving has started), the next two random bytes
# (stored without compressing), the next six random hex text (seconds each at zstd:19): without the
# timeout, archiving them would take well over a minute.
my @backlog = build_backlog(empty => 1, random => 2, hex => 6);
is(scalar(ready_files($node)), $backlog_size, "$backlog_size segments .ready while walvault.repo is not set");
ok(wait_until(sub { $node->log_contains(not_configured_re($node)) }),
	'server log: walvault.repo is not set');
ok(!-e $repo, 'no repository yet');

set_conf(
	$node,
	'walvault.repo'             => "'$repo'",
	'walvault.compression'      => "'zstd:19'",
	'walvault.shutdown_timeout' => "'3s'");
$node->reload;
ok($node->poll_query_until('postgres', 'SHOW walvault.shutdown_timeout', '3s'), 'settings reloaded');

# Wait until archiving has really started: the first object is there.
my $first_object = object_path($repo, $backlog[0]);
ok(wait_until(sub { -f $first_object }), "archiving started: $backlog[0] archived");
my $log_offset = -s $node->logfile;
my $elapsed = timed_stop();
note(sprintf('pg_ctl stop -m fast took %.1f s with zstd:19 and shutdown_timeout 3s', $elapsed));
cmp_ok($elapsed, '<', 30, sprintf('stop finished well within 30 s (%.1f s)', $elapsed));
ok($node->log_contains(qr/WARNING:  archiving of "[0-9A-F]{24}" stopped because the server is shutting down/, $log_offset),
	'server log: archiving stopped because the server is shutting down');
ok($node->log_contains(qr/stopped because the server is shutting down\n[^\n]*HINT:  [^\n]*ready/, $log_offset),
	'server log: HINT that the file stays ready');
# pg_ctl sees postmaster.pid go a moment before the postmaster's last log line reaches the file.
ok(wait_until(sub { $node->log_contains(qr/database system is shut down/, $log_offset) }, 10),
	'server log: database system is shut down');
ok(!$node->log_contains(qr/archiver process \(PID \d+\) (was terminated by signal|exited with exit code [1-9])/, $log_offset),
	'archiver exited cleanly');
# (A shutdown with archive_mode on also switches to a new segment, which becomes .ready too.)
my %in_backlog = map { $_ => 1 } @backlog;
my @left = grep { $in_backlog{$_} } ready_files($node);
cmp_ok(scalar(@left), '>', 0, scalar(@left) . ' segments of the backlog left .ready for the next start');

# Restart with fast compression: everything is archived, nothing is lost.
set_conf($node, 'walvault.compression' => "'zstd:1'");
$node->start;
check_nothing_lost('slow stop', @backlog);
my $meta = read_trailer(object_path($repo, $left[-1]));
is($meta && $meta->{compression}, 'zstd:1', "$left[-1] (left at stop) archived with zstd:1 after the restart");

# ---- plain: fast settings, stop completes promptly, nothing lost ----
set_conf($node, 'walvault.repo' => "''");
$node->reload;
ok($node->poll_query_until('postgres', 'SHOW walvault.repo', ''), 'walvault.repo unset again');
my @plain = build_backlog();
is(scalar(grep { my $n = $_; grep { $_ eq $n } @plain } ready_files($node)),
	$backlog_size, "$backlog_size new segments .ready");

set_conf($node, 'walvault.repo' => "'$repo'", 'walvault.shutdown_timeout' => "'5s'");
$node->reload;
ok($node->poll_query_until('postgres', 'SHOW walvault.repo', $repo), 'walvault.repo set again');
$log_offset = -s $node->logfile;
$elapsed = timed_stop();
note(sprintf('pg_ctl stop -m fast took %.1f s with zstd:1', $elapsed));
cmp_ok($elapsed, '<', 30, sprintf('stop finished well within 30 s (%.1f s)', $elapsed));
ok(!$node->log_contains(qr/archiver process \(PID \d+\) (was terminated by signal|exited with exit code [1-9])/, $log_offset),
	'archiver exited cleanly');
$node->start;
check_nothing_lost('plain stop', @plain);

# ---- stalled store: an S3 endpoint on 127.0.0.1 that accepts connections and never answers ----
# (a child process that accepts and holds every connection; killed by its PID below)
my $listener = IO::Socket::INET->new(
	LocalAddr => '127.0.0.1',
	LocalPort => 0,
	Proto     => 'tcp',
	Listen    => 64,
	ReuseAddr => 1) or die "could not listen on 127.0.0.1: $!";
my $stall_port = $listener->sockport;
my $stall_pid  = fork();
die "fork failed: $!" unless defined $stall_pid;
if ($stall_pid == 0)
{
	my @held;
	while (my $conn = $listener->accept) { push @held, $conn; }
	POSIX::_exit(0);
}
close $listener;
note("stalled store: pid $stall_pid, http://127.0.0.1:$stall_port");

my $creds = $node->basedir . '/aws-credentials';
open my $fh, '>', $creds or die "could not write $creds: $!";
print $fh "[default]\naws_access_key_id = STALLED\naws_secret_access_key = STALLED\n";
close $fh;
chmod 0600, $creds;

set_conf($node, 'walvault.repo' => "''");
$node->reload;
ok($node->poll_query_until('postgres', 'SHOW walvault.repo', ''), 'walvault.repo unset for the stalled store');
my @stalled = make_segments($node, 3, 'empty');
set_conf(
	$node,
	'walvault.repo'                => "'s3://walvault/stalled'",
	'walvault.s3_endpoint'         => "'http://127.0.0.1:$stall_port'",
	'walvault.s3_region'           => "'us-east-1'",
	'walvault.s3_credentials_file' => "'$creds'",
	'walvault.shutdown_timeout'    => "'5s'");
$node->reload;
ok($node->poll_query_until('postgres', 'SHOW walvault.repo', 's3://walvault/stalled'), 'walvault.repo set to the stalled store');
# The archiver is waiting on the store: files in flight, none archived.
ok($node->poll_query_until('postgres', 'SELECT in_flight_count > 0 FROM walvault_status()'),
	'stalled store: files in flight');
sleep 1;
$log_offset = -s $node->logfile;
$elapsed = timed_stop();
note(sprintf('pg_ctl stop -m fast took %.1f s with a stalled store and shutdown_timeout 5s', $elapsed));
cmp_ok($elapsed, '<=', 5 + $stop_margin,
	sprintf('stalled store: stop within shutdown_timeout 5s + %.1f s (%.1f s)', $stop_margin, $elapsed));
ok($node->log_contains(qr/WARNING:  archiving of "[0-9A-F]{24}" stopped because the server is shutting down/, $log_offset),
	'stalled store: server log: archiving stopped because the server is shutting down');
ok(wait_until(sub { $node->log_contains(qr/database system is shut down/, $log_offset) }, 10),
	'stalled store: server log: database system is shut down');
ok(!$node->log_contains(qr/archiver process \(PID \d+\) (was terminated by signal|exited with exit code [1-9])/, $log_offset),
	'stalled store: archiver exited cleanly');
kill 'KILL', $stall_pid;
waitpid($stall_pid, 0);

# Back to the directory: what the stalled store never got is archived after the restart.
set_conf(
	$node,
	'walvault.repo'                => "'$repo'",
	'walvault.s3_endpoint'         => "''",
	'walvault.s3_credentials_file' => "''");
$node->start;
check_nothing_lost('stalled store', @stalled);

$node->stop;
done_testing();
