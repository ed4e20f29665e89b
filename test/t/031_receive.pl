# walvault receive on a directory repository: streamed WAL bounds what a lost primary takes with it.
#  - Errors are clear: a slot that does not exist (the hint names --create-slot), a server of another database
#    system than the repository's, a bad setting.
#  - The receiver and the archive module both write the same segments: every complete segment in the
#    repository is byte-exact with the primary's pg_wal file (stock zstd -d as the oracle), and neither reports
#    a conflict. The receiver killed (kill -9) mid-segment and started again goes on from its slot.
#  - Every streamed prefix in the repository is a prefix of the primary's segment file; walvault receive
#    --status and walvault list show the streamed position.
#  - RPO: a row committed, the flush interval + 1 s waited, the primary killed (kill -9) and its data directory
#    deleted; walvault restore into a new directory and start: the row is there (wal-fetch served the streamed
#    prefix of the last segment, zero-filled). walvault verify checks the prefixes and reports no stray object.
use strict;
use warnings;

use File::Path qw(rmtree);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use WalvaultTest;

my $tool = $ENV{WALVAULT_TOOL} // 'walvault';
my $node = walvault_node('primary');
my $repo = $node->basedir . '/repo';
set_conf($node, 'walvault.repo' => "'$repo'");
$node->start;
my $connstr = $node->connstr('postgres');

my ($rc, $out, $err) = br_backup($node, $repo);
is($rc, 0, 'walvault backup exits 0') or diag($err);

# ---- errors ----
($rc, $out, $err) = br_tool_run('receive', '--repo', $repo, '--dbname', $connstr, '--slot', 'nosuch');
is($rc, 1, 'receive from a slot that does not exist exits 1');
like($err, qr/^walvault receive: replication slot "nosuch" does not exist on the server$/m, '... saying so');
like($err, qr/^HINT: Create it with walvault receive --create-slot/m, '... with a hint naming --create-slot');

my $other = new_node('other');
$other->init(allows_streaming => 1);
$other->start;
($rc, $out, $err) = br_tool_run('receive', '--repo', $repo, '--dbname', $other->connstr('postgres'), '--create-slot');
is($rc, 1, "receive from another database system's server exits 1");
like($err, qr/^walvault receive: repository "\Q$repo\E" belongs to database system \d+, the server .* is database system \d+$/m,
	'... naming both systems');
is($other->safe_psql('postgres', 'SELECT count(*) FROM pg_replication_slots'), '0', '... before creating a slot there');
$other->stop;

($rc, $out, $err) = br_tool_run('receive', '--repo', $repo, '--dbname', $connstr, '--receive-flush-interval', '10ms');
is($rc, 1, 'a receive_flush_interval below its minimum exits 1');
like($err, qr/receive_flush_interval/, '... naming the setting');
($rc, $out, $err) = br_tool_run('receive', '--repo', $repo, '--slot', 'Bad-Name');
is($rc, 1, 'an invalid slot name exits 1');
like($err, qr/replication slot name "Bad-Name" is not valid/, '... saying so');

# ---- the receiver, beside the archive module ----
my $recv_log = $node->basedir . '/receive.log';
my @receivers;    # every receiver started, for the END block
END { kill 'KILL', $_->{pid} for grep { $_->{pid} } @receivers; }

sub start_receiver
{
	my $h = IPC::Run::start(
		[ $tool, 'receive', '--repo', $repo, '--dbname', $connstr, '--slot', 'walvault_rx', '--create-slot',
		  '--receive-flush-interval', '1s' ],
		'<', \undef, '>>', $recv_log, '2>>', $recv_log);
	my $r = { handle => $h, pid => $h->{KIDS}[0]{PID} };
	push @receivers, $r;
	return $r;
}

sub receive_status
{
	my ($src, $sout, $serr) = br_tool_run('receive', '--status', '--repo', $repo, '--slot', 'walvault_rx');
	return undef if $src != 0;
	my %st = $sout =~ /^(\w[\w ]*?):\s+(.*)$/mg;
	return \%st;
}

sub lsn_value
{
	my ($lsn) = @_;
	my ($hi, $lo) = split m{/}, $lsn;
	return hex($hi) * 2**32 + hex($lo);
}

# Waits until the receiver reports durable WAL up to lsn.
sub wait_flushed
{
	my ($lsn) = @_;
	return wait_until(
		sub {
			my $st = receive_status();
			return $st && lsn_value($st->{flushed}) >= lsn_value($lsn);
		},
		60);
}

sub receiver_log { return -e $recv_log ? slurp_file($recv_log) : ''; }

my $receiver = start_receiver();
ok(wait_until(sub { receiver_log() =~ /streaming from slot "walvault_rx"/ }, 60), 'the receiver streams')
  or diag(receiver_log());
is($node->safe_psql('postgres', "SELECT slot_type FROM pg_replication_slots WHERE slot_name = 'walvault_rx'"),
	'physical', '--create-slot created the physical slot');

$node->safe_psql('postgres', "CREATE TABLE t (what text); INSERT INTO t VALUES ('first')");
my $seg1 = switch_wal($node);
ok(wait_for_done($node, $seg1), "the module archived $seg1");
ok(wait_until(sub { receiver_log() =~ /(?:archived segment|segment) \Q$seg1\E/ }, 60), "the receiver archived $seg1 too");

# Killed mid-segment and started again.
$node->safe_psql('postgres', "INSERT INTO t SELECT 'bulk ' || g FROM generate_series(1, 20000) g");
my $lsn = $node->safe_psql('postgres', 'SELECT pg_current_wal_flush_lsn()');
ok(wait_flushed($lsn), 'the receiver made the segment in progress durable');
kill 'KILL', $receiver->{pid};
$receiver->{handle}->finish;
$receiver->{pid} = 0;
$node->safe_psql('postgres', "INSERT INTO t SELECT 'more ' || g FROM generate_series(1, 20000) g");
$receiver = start_receiver();
my $seg2 = switch_wal($node);
ok(wait_for_done($node, $seg2), "the module archived $seg2");
ok(wait_until(sub { receiver_log() =~ /(?:archived segment|segment) \Q$seg2\E/ }, 60),
	"the receiver started again archived $seg2 too");
my @prefixes_of_seg2 = glob(substr(object_path($repo, $seg2), 0, -4) . '.*.stream.zst');
is(scalar @prefixes_of_seg2, 0, "no streamed prefix of $seg2 is left once it is complete");

# Every complete segment is byte-exact with the primary's file.
my $pg_wal = $node->data_dir . '/pg_wal';
my @segments = map { m{/([0-9A-F]{24})\.zst$} ? $1 : () } glob("$repo/wal/*/*.zst");
ok(scalar @segments >= 2, 'the repository holds complete segments: ' . join(', ', @segments));
my $exact = 0;
for my $s (@segments)
{
	my ($sha, $len) = decode_object(object_path($repo, $s));
	my ($want_sha, $want_len) = file_sha256("$pg_wal/$s");
	$exact++ if defined $sha && $sha eq $want_sha && $len == $want_len;
	is($sha, $want_sha, "$s in the repository is byte-exact with pg_wal/$s") if !defined $sha || $sha ne $want_sha;
}
is($exact, scalar @segments, 'every archived segment is byte-exact with the primary\'s file');

# ---- RPO ----
$node->safe_psql('postgres', "INSERT INTO t VALUES ('marked')");
$lsn = $node->safe_psql('postgres', 'SELECT pg_current_wal_flush_lsn()');
my $current = $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_current_wal_lsn())');
sleep 2;    # the flush interval + 1 s
my $st = receive_status();
ok($st && lsn_value($st->{flushed}) >= lsn_value($lsn), "receive --status: flushed $st->{flushed} reaches the commit at $lsn")
  or diag(explain($st));
like($st->{'last upload'} // '', qr/^\d{4}-\d\d-\d\dT/, '... with the time of the last upload');

# Every streamed prefix is a prefix of the primary's file.
my @prefixes = glob("$repo/wal/*/*.stream.zst");
ok(scalar @prefixes >= 1, 'the segment in progress is in the repository as a streamed prefix');
my $good = 0;
for my $p (@prefixes)
{
	my ($name, $hexlen) = $p =~ m{/([0-9A-F]{24})\.([0-9A-F]{8})\.stream\.zst$} or next;
	my $tmp = $node->basedir . '/prefix';
	my ($sha, $len) = decode_object($p, $tmp);
	open my $fh, '<:raw', "$pg_wal/$name" or die "open $pg_wal/$name: $!";
	my $want = '';
	read($fh, $want, hex $hexlen);
	close $fh;
	my $got = slurp_file($tmp);
	if (defined $sha && $len == hex($hexlen) && $got eq $want) { $good++ }
	else { fail("$p is not a prefix of pg_wal/$name") }
}
is($good, scalar @prefixes, 'every streamed prefix is a prefix of the primary\'s segment file');

($rc, $out, $err) = br_tool_run('verify', '--repo', $repo);
is($rc, 0, 'walvault verify passes with streamed prefixes in the repository') or diag($out . $err);
unlike($out . $err, qr/not WAL objects/, '... and takes none of them for a stray object');

my $list = br_list_json($repo);
my ($rx) = grep { $_->{slot} eq 'walvault_rx' } @{ $list->{receive} // [] };
ok($rx && lsn_value($rx->{flushed_lsn}) >= lsn_value($lsn), 'walvault list --json shows the streamed position')
  or diag(explain($list->{receive}));

# The primary is lost: killed, its data directory deleted.
my $pid = $node->{_pid};
kill 'KILL', $pid;
ok(wait_until(sub { !kill(0, $pid) }, 30), 'the primary is killed');
$node->{_pid} = undef;
usleep(500_000);    # its backends notice the postmaster's death
rmtree($node->data_dir);
ok(!-e $node->data_dir, 'its data directory is deleted');

my ($restored, $rrc, $rout, $rerr) = pitr_restore_node('restored', args => [ '--repo', $repo ]);
is($rrc, 0, 'walvault restore into a new directory exits 0') or diag($rerr);
$restored->start;
ok(wait_until(sub { $restored->safe_psql('postgres', 'SELECT NOT pg_is_in_recovery()') eq 't' }, 120),
	'the restored server finished recovery');
is($restored->safe_psql('postgres', "SELECT count(*) FROM t WHERE what = 'marked'"), '1',
	'the row committed before the primary was lost is there');
ok($restored->log_contains(qr/restored "\Q$current\E" from its first \d+ bytes streamed by walvault receive/),
	"wal-fetch served the streamed prefix of $current");
$restored->stop;

# The receiver stops cleanly on SIGTERM.
kill 'TERM', $receiver->{pid};
$receiver->{handle}->finish;
$receiver->{pid} = 0;
like(receiver_log(), qr/walvault receive: stopped; WAL is durable in the repository up to /, 'the receiver stops on SIGTERM');
unlike(receiver_log(), qr/different content|conflict/, 'the receiver reported no conflict');
unlike(slurp_file($node->logfile), qr/different content/, 'the archive module reported no conflict');

done_testing();
