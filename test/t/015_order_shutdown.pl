# Archive order and shutdown with work in flight.
#  - .history first: a standby promoted while archiving is not configured (walvault.repo = '') has
#    00000002.history, the .partial of timeline 1 and new segments of timeline 2 .ready at once. With
#    walvault.parallel = 1, once walvault.repo is set, the history file is archived first and the rest in
#    name order: the exact order of the "archived" lines the archiver logs at DEBUG1 (one line per file,
#    written when PostgreSQL is told), and no segment's object older than the history file's.
#  - Prompt shutdown: walvault.parallel = 4, a backlog whose first segment's object is held by another
#    writer (its temp-file lock), slow segments behind it. walvault_status() shows files in flight;
#    "pg_ctl stop -m fast" returns within walvault.shutdown_timeout + 10 s; the held segment stays .ready;
#    after the lock goes and the server starts again, everything is archived and restores exactly.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use WalvaultTest;

# Files the archiver logged as archived (DEBUG1, one line per file PostgreSQL is told about), in log order.
sub archived_in_log
{
	my ($node, $offset) = @_;
	my $log = slurp_file($node->logfile, $offset);
	return $log =~ /DEBUG:  archived "([^"]+)" to /g;
}

# PostgreSQL's archive order (pgarch.c): timeline history files first, then by name.
sub archive_order
{
	return sort { (($b =~ /\.history$/) <=> ($a =~ /\.history$/)) || $a cmp $b } @_;
}

# ---- .history first ----
{
	my $primary = walvault_node('primary', conf => "walvault.repo = ''\n");
	$primary->start;
	$primary->safe_psql('postgres', 'CREATE EXTENSION walvault');
	$primary->backup('base');
	my $standby = PostgreSQL::Test::Cluster->new('standby');
	$standby->init_from_backup($primary, 'base', has_streaming => 1);
	my $repo = $standby->basedir . '/repo';
	$standby->append_conf('postgresql.conf',
		"walvault.repo = ''\nwalvault.parallel = 1\nlog_min_messages = debug1\n");
	$standby->start;
	make_segments($primary, 2, 'empty');
	$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));

	$standby->promote;
	ok($standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'standby promoted');
	my @tl2 = make_segments($standby, 3, 'empty');
	like(join(' ', @tl2), qr/^00000002\S+ 00000002\S+ 00000002\S+$/, "three segments on timeline 2: @tl2");
	ok(wait_until(sub { $standby->log_contains(not_configured_re($standby)) }),
		'standby: archiving is not configured');

	my @ready = ready_files($standby);
	my @partial = grep { /\.partial$/ } @ready;
	is(scalar(@partial), 1, "one .partial of timeline 1 ready: @partial");
	ok((grep { $_ eq '00000002.history' } @ready), '00000002.history ready');
	ok(!(grep { !/\.(history|partial)$/ && !/^00000002/ } @ready), 'no other timeline-1 file ready');
	my %is_ready = map { $_ => 1 } @ready;
	ok(!(grep { !$is_ready{$_} } @tl2), 'the new segments are ready');
	my @expected = archive_order(@ready);
	is_deeply(\@expected, [ '00000002.history', @partial, sort grep { /^00000002[0-9A-F]{16}$/ } @ready ],
		"ready together, in PostgreSQL's order: @expected");
	cmp_ok(scalar(@expected), '>=', 5, 'the history file and at least four segments are ready together');

	my $log_offset = -s $standby->logfile;
	set_conf($standby, 'walvault.repo' => "'$repo'");
	$standby->reload;
	ok(wait_for_done($standby, @expected), 'once walvault.repo is set, all of them are archived');
	my @logged = archived_in_log($standby, $log_offset);
	is_deeply(\@logged, \@expected, 'archived in this order: ' . join(' ', @logged));
	check_archived($repo, $standby, $_) for @expected;
	my $history_mtime = (Time::HiRes::stat(object_path($repo, '00000002.history')))[9];
	ok(!(grep { (Time::HiRes::stat(object_path($repo, $_)))[9] < $history_mtime } @expected[ 1 .. $#expected ]),
		'no object in the repository is older than the history file\'s');
	my $st = wait_for_status($standby, sub { $_[0]{in_flight_count} == 0 });
	ok($st, 'standby: nothing in flight afterwards');
	is($st && $st->{archived_count}, scalar(@expected), 'standby: walvault_status archived_count');
	$standby->stop;
	$primary->stop;
}

# ---- prompt shutdown with files in flight ----
{
	my $shutdown_timeout_s = 2;
	my $node = walvault_node('main',
		conf => "walvault.parallel = 4\nwalvault.shutdown_timeout = '${shutdown_timeout_s}s'\n");
	my $repo = $node->basedir . '/repo';
	set_conf($node, 'walvault.repo' => "'$repo'");
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION walvault');
	ok(wait_for_done($node, switch_wal($node)), 'archiving works (the repository has its identity)');

	# A backlog while archiving is not configured.
	set_conf($node, 'walvault.repo' => "''");
	$node->reload;
	ok($node->poll_query_until('postgres', 'SHOW walvault.repo', ''), 'walvault.repo unset');

	# The segment being written now is the first of the backlog: hold its object's temp file.
	my $held = $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_current_wal_insert_lsn())');
	my $object = object_path($repo, $held);
	my $lock = hold_object($repo, $held);
	ok($lock, "holding the lock of $held\'s temp file");

	# Behind it, slow segments (random hex text takes seconds each at zstd:19), then quick ones.
	my @backlog = (make_segments($node, 1, 'empty'), make_segments($node, 6, 'hex'), make_segments($node, 3, 'empty'));
	is($backlog[0], $held, "the backlog starts with $held");

	set_conf($node, 'walvault.repo' => "'$repo'", 'walvault.compression' => "'zstd:19'");
	$node->reload;
	ok($node->poll_query_until('postgres', 'SHOW walvault.compression', 'zstd:19'), 'archiving with zstd:19');
	my $st = wait_for_status($node,
		sub { ($_[0]{last_failed_wal} // '') eq $held && $_[0]{in_flight_count} > 0 });
	ok($st, "the attempt at $held failed while later files are in flight");
	cmp_ok($st ? $st->{in_flight_count} : 0, '>', 0,
		'walvault_status() in_flight_count > 0 while held: ' . ($st ? $st->{in_flight_count} : 'none'));
	cmp_ok($st ? $st->{in_flight_count} : 99, '<=', scalar(@backlog) - 1, 'in_flight_count at most the files behind it');

	# A reset clears the counters and latencies, not the files in flight.
	$node->safe_psql('postgres', 'SELECT walvault_reset_status()');
	$st = walvault_status($node);
	cmp_ok($st->{in_flight_count}, '>', 0, 'after walvault_reset_status(): in_flight_count still > 0');
	is_deeply([ @{$st}{qw(archived_count avg_duration_ms max_duration_ms)} ],
		[ 0, undef, undef ], 'after walvault_reset_status(): no count, no latency');

	my $status_dir = $node->data_dir . '/pg_wal/archive_status';
	my $log_offset = -s $node->logfile;
	my $start = time();
	my $stopped = $node->stop('fast', fail_ok => 1);
	my $elapsed = time() - $start;
	ok($stopped, 'pg_ctl stop -m fast succeeded');
	$node->stop('immediate', fail_ok => 1) unless $stopped;
	cmp_ok($elapsed, '<', $shutdown_timeout_s + 10,
		sprintf('stop returned within shutdown_timeout + 10 s (%.1f s)', $elapsed));
	ok(wait_until(sub { $node->log_contains(qr/database system is shut down/, $log_offset) }, 10),
		'server log: database system is shut down');
	ok(!$node->log_contains(qr/archiver process \(PID \d+\) (was terminated by signal|exited with exit code [1-9])/, $log_offset),
		'archiver exited cleanly');
	ok(-e "$status_dir/$held.ready" && !-e "$status_dir/$held.done", "$held is still .ready, no .done");
	ok(!(grep { -e "$status_dir/$_.done" } @backlog), 'no file of the backlog reported archived');
	ok(!-f $object, "no object for $held");

	# Release; start again: everything is archived, each object restores exactly its segment.
	close($lock);
	set_conf($node, 'walvault.compression' => "'zstd:1'");
	$node->start;
	ok(wait_for_done($node, @backlog), 'after the restart every segment of the backlog is archived');
	ok(wait_for_no_ready($node), 'no .ready file left');
	check_archived($repo, $node, $_) for @backlog;
	is_deeply([ repo_temp_files($repo) ], [], 'no temporary file in the repository');
	$st = wait_for_status($node, sub { $_[0]{in_flight_count} == 0 && $_[0]{pending_count} == 0 });
	ok($st, 'walvault_status(): nothing in flight, nothing pending');
	ok($st && defined $st->{avg_duration_ms} && $st->{avg_duration_ms} > 0, 'avg_duration_ms over the uploads');
	ok($st && defined $st->{max_duration_ms} && $st->{max_duration_ms} >= $st->{avg_duration_ms},
		'max_duration_ms >= avg_duration_ms');
	$node->stop;
}

done_testing();
