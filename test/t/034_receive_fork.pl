# walvault receive across a failover to a standby whose history forked before the receiver's position.
#  - A primary P (archiving into a directory repository) and its streaming standby S, which holds a physical
#    slot of the receiver's name; the receiver streams from P through a connection string that names P's port.
#  - S is promoted (timeline 2) while P goes on writing: the receiver gets timeline-1 WAL past the fork, into a
#    segment after the fork's. Then P fails (immediate stop) and S takes P's port, as a moved address would
#    hand the connection string to the promoted standby.
#  - The receiver says where the server's history left timeline 1 and goes on on timeline 2 from there: it
#    stores 00000002.history, and a row committed on S becomes durable (receive --status on timeline 2); the
#    streamed timeline-1 prefix past the fork (the only copy of that WAL) stays in the repository byte for
#    byte; no "not in this server's history" refusal is retried.
#  - S stops and the old primary P comes back on its port, still on timeline 1: its history does not hold
#    timeline 2, and the receiver exits 1 naming both timelines, with a hint.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalvaultTest;

my $tool = $ENV{WALVAULT_TOOL} // 'walvault';
my $slot = 'walvault_rx';

my $p = walvault_node('primary');
my $repo = $p->basedir . '/repo';
set_conf($p, 'walvault.repo' => "'$repo'");
$p->start;
my $p_connstr = $p->connstr('postgres');
my $p_port = $p->port;
my $seg_size = segment_size($p);

$p->safe_psql('postgres', "CREATE TABLE t (what text); INSERT INTO t VALUES ('timeline 1')");
$p->backup('sbase');
my $s = PostgreSQL::Test::Cluster->new('standby');
$s->init_from_backup($p, 'sbase', has_streaming => 1);
# The promoted standby does not archive: what the repository holds of timeline 2 is the receiver's.
$s->append_conf('postgresql.conf', "archive_mode = off\n");
$s->start;
$p->wait_for_catchup($s);
# The slot exists on the standby before the failover, so it is there after the promotion.
$s->safe_psql('postgres', "SELECT pg_create_physical_replication_slot('$slot', true)");

my $recv_log = $p->basedir . '/receive.log';
my $h = IPC::Run::start(
	[ $tool, 'receive', '--repo', $repo, '--dbname', $p_connstr, '--slot', $slot, '--create-slot',
	  '--receive-flush-interval', '1s' ],
	'<', \undef, '>>', $recv_log, '2>>', $recv_log);
my $rx_pid = $h->{KIDS}[0]{PID};
END { kill 'KILL', $rx_pid if $rx_pid; }

sub receiver_log { return -e $recv_log ? slurp_file($recv_log) : ''; }



sub format_lsn
{
	my ($v) = @_;
	return sprintf('%X/%X', int($v / 2**32), $v % 2**32);
}

# Waits until the receiver reports WAL durable up to lsn on timeline tli.
sub wait_flushed
{
	my ($lsn, $tli) = @_;
	return wait_until(
		sub {
			my $st = receive_status($repo, $slot);
			return $st && $st->{timeline} == $tli && lsn_value($st->{flushed}) >= lsn_value($lsn);
		},
		60);
}

# The streamed prefixes of timeline-1 segments in the repository: file name => sha256 of the object.
sub tl1_prefixes
{
	my %out;
	for my $f (glob("$repo/wal/*/00000001*.stream.zst"))
	{
		my ($name) = $f =~ m{/([^/]+)$};
		($out{$name}) = file_sha256($f);
	}
	return \%out;
}

ok(wait_until(sub { receiver_log() =~ /streaming from slot "$slot" at \S+ on timeline 1/ }, 60),
	'the receiver streams from the primary on timeline 1')
  or diag(receiver_log());
my $seg = switch_wal($p);
ok(wait_until(sub { receiver_log() =~ /(?:archived segment|segment) \Q$seg\E/ }, 60), "the receiver archived $seg");
# The fork is inside a segment: the first segment of timeline 2 starts with timeline-1 WAL.
$p->safe_psql('postgres', "INSERT INTO t SELECT 'before the fork ' || g FROM generate_series(1, 100) g");
$p->wait_for_catchup($s);

# ---- the standby is promoted while the primary goes on ----
$s->promote;
my $history = slurp_file($s->data_dir . '/pg_wal/00000002.history');
my ($fork) = $history =~ /^1\t(\S+)/m;
ok(defined $fork, "the standby is promoted to timeline 2, forked from timeline 1 at $fork") or diag($history);
my $fork_segno = int(lsn_value($fork) / $seg_size);
ok(lsn_value($fork) % $seg_size != 0, "... inside a segment");

$p->safe_psql('postgres', "INSERT INTO t SELECT 'old primary ' || g FROM generate_series(1, 1000) g");
my $p_seg = switch_wal($p);    # complete: the receiver goes on into the next segment
$p->safe_psql('postgres', "INSERT INTO t SELECT 'old primary, later ' || g FROM generate_series(1, 1000) g");
my $p_lsn = $p->safe_psql('postgres', 'SELECT pg_current_wal_flush_lsn()');
ok(lsn_value($p_lsn) >= ($fork_segno + 1) * $seg_size, "the old primary wrote on timeline 1 up to $p_lsn, past the fork's segment");
ok(wait_flushed($p_lsn, 1), "the receiver made timeline-1 WAL durable up to $p_lsn, past the fork at $fork")
  or diag(receiver_log());

# ---- the old primary fails, the promoted standby takes its port ----
my $log_before = length(receiver_log());
$p->stop('immediate');    # no shutdown checkpoint, no last segment switch: the streamed prefix is the only copy
ok(wait_until(sub { substr(receiver_log(), $log_before) =~ /connecting again in/ }, 60),
	'the receiver lost the old primary')
  or diag(receiver_log());
my $before = tl1_prefixes();
my @past_fork = grep { hex(substr($_, 8, 16)) > $fork_segno } keys %$before;
ok(scalar @past_fork >= 1, 'the repository holds streamed timeline-1 WAL past the fork: ' . join(', ', sort @past_fork));
for my $prefix (@past_fork)
{
	my $name = substr($prefix, 0, 24);
	ok(!-f object_path($repo, $name), "... of $name, which the repository holds no other copy of");
}

$s->append_conf('postgresql.conf', "port = $p_port\n");
$s->restart;
my $s_connstr = $p_connstr;    # the standby's Cluster object still names its old port
is($s->safe_psql('postgres', 'SELECT pg_is_in_recovery()', connstr => $s_connstr), 'f',
	"the promoted standby answers on the old primary's port");

my $restart_at = format_lsn($fork_segno * $seg_size);
ok(wait_until(sub { receiver_log() =~ /streaming from slot "$slot" at \S+ on timeline 2/ }, 90),
	'the receiver streams from the promoted standby on timeline 2')
  or diag(receiver_log());
my $log = receiver_log();
like($log,
	qr/^walvault receive: the server's history left timeline 1 at \Q$fork\E, before the position \S+ this receiver reached on it: the WAL of timeline 1 past \Q$fork\E stays in the repository on timeline 1; continuing on timeline 2 from \Q$fork\E$/m,
	'... after saying where the server\'s history left timeline 1');
like($log, qr/continuing on timeline 2 .*\n(?:.*\n)*walvault receive: streaming from slot "$slot" at \Q$restart_at\E on timeline 2$/m,
	"... from the start of the fork's segment, $restart_at");
my @repositions = $log =~ /continuing on timeline 2/g;
is(scalar @repositions, 1, 'the receiver re-positioned once');
my @refusals = $log =~ /not in this server's history/g;
is(scalar @refusals, 0, "no \"not in this server's history\" refusal was retried");
like($log, qr/^walvault receive: archived 00000002\.history$/m, 'the receiver stored 00000002.history');
my ($hist_sha) = decode_object(object_path($repo, '00000002.history'));
my ($want_hist) = file_sha256($s->data_dir . '/pg_wal/00000002.history');
is($hist_sha, $want_hist, '... byte-exact with the promoted standby\'s file');

$s->safe_psql('postgres', "INSERT INTO t VALUES ('timeline 2')", connstr => $s_connstr);
my $s_lsn = $s->safe_psql('postgres', 'SELECT pg_current_wal_flush_lsn()', connstr => $s_connstr);
ok(wait_flushed($s_lsn, 2), "a commit on the promoted standby is durable in the repository (up to $s_lsn on timeline 2)")
  or diag(explain(receive_status($repo, $slot)));

is_deeply(tl1_prefixes(), $before, 'the streamed timeline-1 prefixes past the fork are still there, byte for byte');
ok(-f object_path($repo, $p_seg), "the old primary's complete $p_seg is still there");
unlike(receiver_log(), qr/different content|conflict/, 'the receiver reported no conflict');

# ---- back to the old primary, which is still on timeline 1: fatal ----
$s->stop;
$p->start;
my $ended = wait_until(sub { receiver_log() =~ /^HINT: /m }, 90);
ok($ended, 'the receiver reaches the old primary again') or diag(receiver_log());
kill 'KILL', $rx_pid if !$ended;
$h->finish;
is($h->result(0), 1, 'the receiver exits 1');
$rx_pid = 0;
$log = receiver_log();
like($log,
	qr/^walvault receive: the server host=\S+ port=$p_port dbname=postgres user=\S+ is on timeline 1 and its history does not hold timeline 2, on which this receiver reached [0-9A-F]+\/[0-9A-F]+$/m,
	'... naming the server\'s timeline and its own');
like($log, qr/^HINT: This is not the server walvault receive streamed from, nor one whose history holds that WAL: check that --dbname reaches the right server\./m,
	'... with a hint');
@refusals = $log =~ /not in this server's history/g;
is(scalar @refusals, 0, 'and tried no START_REPLICATION the server refuses');
$p->stop;
note(receiver_log());

done_testing();
