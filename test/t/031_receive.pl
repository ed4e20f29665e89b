# walvault receive on a directory repository: streamed WAL bounds what a lost primary takes with it.
#  - Errors are clear: a slot that does not exist (the hint names --create-slot), a server of another database
#    system than the repository's, a bad setting.
#  - The receiver and the archive module both write the same segments: every complete segment in the
#    repository is byte-exact with the primary's pg_wal file (stock zstd -d as the oracle), and neither reports
#    a conflict. The receiver killed (kill -9) mid-segment and started again goes on from its slot. A segment
#    whose object another writer holds for a while is waited for: the receiver does not reconnect.
#  - Every streamed prefix in the repository is a prefix of the primary's segment file; walvault receive
#    --status and walvault list show the streamed position.
#  - walvault check: receive OK while the receiver streams (json, prometheus with promtool); WARNING with the
#    receiver stopped (no one on the slot), CRITICAL from the repository alone once its state is older than
#    twice --receive-max-age; no receive check once receive --remove-state removed the state (WAL kept).
#  - RPO: a row committed, the flush interval + 1 s waited, the primary killed (kill -9) and its data directory
#    deleted; walvault restore into a new directory and start: the row is there (wal-fetch served the streamed
#    prefix of the last segment, zero-filled). walvault verify checks the prefixes and reports no stray object.
use strict;
use warnings;

use File::Copy;
use File::Path qw(rmtree);
use IPC::Run;
use JSON::PP;
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

my $rx_repo = $repo;    # the repository start_receiver streams into

sub start_receiver
{
	my $h = IPC::Run::start(
		[ $tool, 'receive', '--repo', $rx_repo, '--dbname', $connstr, '--slot', 'walvault_rx', '--create-slot',
		  '--receive-flush-interval', '1s' ],
		'<', \undef, '>>', $recv_log, '2>>', $recv_log);
	my $r = { handle => $h, pid => $h->{KIDS}[0]{PID} };
	push @receivers, $r;
	return $r;
}



# Waits until the receiver reports durable WAL up to lsn.
sub wait_flushed
{
	my ($lsn) = @_;
	return wait_until(
		sub {
			my $st = receive_status($repo, 'walvault_rx');
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

# Both store a segment as it completes, often at the same moment: whichever comes second waits for the other
# and compares, and the receiver keeps its connection. Here a third writer holds the next segment's object
# (its temp-file lock) for two seconds, so that both the module and the receiver wait.
my $reconnects = () = receiver_log() =~ /connecting again/g;
my $held = $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_current_wal_insert_lsn())');
my $lock = hold_object($repo, $held);
$node->safe_psql('postgres', "INSERT INTO t VALUES ('held')");
is(switch_wal($node), $held, "$held is complete while its object is held");
sleep 2;
ok(!-f object_path($repo, $held), "no object for $held while it is held");
close($lock);
ok(wait_until(sub { receiver_log() =~ /(?:archived segment|segment) \Q$held\E/ }, 60),
	"the receiver archived $held once it was released");
ok(wait_for_done($node, $held), "the module archived $held too");
my $reconnects_after = () = receiver_log() =~ /connecting again/g;
is($reconnects_after, $reconnects, 'the receiver waited on its connection: no reconnect') or diag(receiver_log());

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
my $st = receive_status($repo, 'walvault_rx');
ok($st && lsn_value($st->{flushed}) >= lsn_value($lsn), "receive --status: flushed $st->{flushed} reaches the commit at $lsn")
  or diag(explain($st));
like($st->{'last upload'} // '', qr/^\d{4}-\d\d-\d\dT/, '... with the time of the last upload');

# Every streamed prefix is a prefix of the primary's file.
my @prefixes = glob("$repo/wal/*/*.stream.zst");
ok(scalar @prefixes >= 1, 'the segment in progress is in the repository as a streamed prefix');
my ($good, $gone) = (0, 0);
for my $p (@prefixes)
{
	my ($name, $hexlen) = $p =~ m{/([0-9A-F]{24})\.([0-9A-F]{8})\.stream\.zst$} or next;
	my $tmp = $node->basedir . '/prefix';
	# A copy, read at once: the receiver replaces its prefix as WAL arrives (a longer one, then this removed).
	my $copy = "$tmp.zst";
	if (!copy($p, $copy)) { -e $p ? fail("could not copy $p: $!") : $gone++; next; }
	my ($sha, $len) = decode_object($copy, $tmp);
	open my $fh, '<:raw', "$pg_wal/$name" or die "open $pg_wal/$name: $!";
	my $want = '';
	read($fh, $want, hex $hexlen);
	close $fh;
	my $got = slurp_file($tmp);
	if (defined $sha && $len == hex($hexlen) && $got eq $want) { $good++ }
	else { fail("$p is not a prefix of pg_wal/$name") }
}
is($good, scalar(@prefixes) - $gone, 'every streamed prefix is a prefix of the primary\'s segment file');

($rc, $out, $err) = br_tool_run('verify', '--repo', $repo);
is($rc, 0, 'walvault verify passes with streamed prefixes in the repository') or diag($out . $err);
unlike($out . $err, qr/not WAL objects/, '... and takes none of them for a stray object');

my $list = br_list_json($repo);
my ($rx) = grep { $_->{slot} eq 'walvault_rx' } @{ $list->{receive} // [] };
ok($rx && lsn_value($rx->{flushed_lsn}) >= lsn_value($lsn), 'walvault list --json shows the streamed position')
  or diag(explain($list->{receive}));

# walvault check judges the receiver: connected, and not behind (the checks it shares with t/021 aside).
sub check_json
{
	my ($r, @args) = @_;
	my ($crc, $cout, $cerr) = br_tool_run('check', '--repo', $r, '--output', 'json', @args);
	my $doc = eval { JSON::PP->new->decode($cout) } // {};
	diag("check printed no JSON document: $cout$cerr") unless %$doc;
	my ($c) = grep { $_->{name} eq 'receive' } @{ $doc->{checks} // [] };
	return ($c, $doc);
}
my ($rcheck, $cdoc) = check_json($repo, '--dbname', $node->connstr('postgres'));
is($rcheck && $rcheck->{state}, 'OK', 'check: receive is OK while the receiver streams')
  or diag(explain($rcheck));
like($rcheck && $rcheck->{message}, qr/^slot "walvault_rx" [\d.]+ \S+ behind the server, last upload \d+s ago$/,
	'check: the message names the slot, its lag and the last upload');
my ($crx) = @{ $cdoc->{metrics}{receivers} // [] };
ok($crx && $crx->{slot} eq 'walvault_rx' && $crx->{connected} && $crx->{lag_bytes} < 16 * 1024 * 1024,
	'check --output json: the slot is connected, less than a segment behind')
  or diag(explain($cdoc->{metrics}));
($rc, $out, $err) = br_tool_run('check', '--repo', $repo, '--dbname', $node->connstr('postgres'), '--output',
	'prometheus');
like($out, qr/^walvault_receive_connected\{repo="\Q$repo\E",slot="walvault_rx"\} 1$/m,
	'check --output prometheus: walvault_receive_connected is 1');
my ($pout, $perr) = ('', '');
IPC::Run::run([ 'promtool', 'check', 'metrics' ], '<', \$out, '>', \$pout, '2>', \$perr);
is($? >> 8, 0, 'promtool check metrics accepts the receive metrics') or diag($pout . $perr);
# Without the server: the receiver's state, which it writes at least every minute while it streams.
($rcheck) = check_json($repo);
is($rcheck && $rcheck->{state}, 'OK', 'check without --dbname: receive is OK from the fresh state');

# The primary is lost: killed, its data directory deleted.
lose_primary($node);
recover_streamed_commit('restored', $current, '--repo', $repo);

# The receiver stops cleanly on SIGTERM.
kill 'TERM', $receiver->{pid};
$receiver->{handle}->finish;
$receiver->{pid} = 0;
like(receiver_log(), qr/walvault receive: stopped; WAL is durable in the repository up to /, 'the receiver stops on SIGTERM');
unlike(receiver_log(), qr/different content|conflict/, 'the receiver reported no conflict');
unlike(slurp_file($node->logfile), qr/different content/, 'the archive module reported no conflict');

# ---- a promotion while receiving, then --synchronous ----
# A second system: primary p2 and its standby s2, archiving into repo2; a receiver streams from s2 (cascading).
my $p2 = walvault_node('p2');
my $repo2 = $p2->basedir . '/repo';
set_conf($p2, 'walvault.repo' => "'$repo2'");
$p2->start;
($rc, $out, $err) = br_backup($p2, $repo2);
is($rc, 0, 'p2: walvault backup exits 0') or diag($err);
$p2->backup('s2base');
my $s2 = PostgreSQL::Test::Cluster->new('s2');
$s2->init_from_backup($p2, 's2base', has_streaming => 1);
$s2->start;
$p2->safe_psql('postgres', "CREATE TABLE t2 (what text); INSERT INTO t2 VALUES ('timeline 1')");
$p2->wait_for_catchup($s2);

$recv_log = $s2->basedir . '/receive.log';
$connstr = $s2->connstr('postgres');
$rx_repo = $repo2;
my $on_standby = start_receiver();
ok(wait_until(sub { receiver_log() =~ /streaming from slot "walvault_rx" at \S+ on timeline 1/ }, 60),
	'a receiver streams from the standby on timeline 1')
  or diag(receiver_log());
my $tl1_seg = switch_wal($p2);
ok(wait_until(sub { receiver_log() =~ /(?:archived segment|segment) \Q$tl1_seg\E/ }, 60),
	"... and archives $tl1_seg");

# Failover: the primary stops, the standby is promoted to timeline 2.
$p2->stop;
$s2->promote;
ok(wait_until(sub { receiver_log() =~ /timeline 1 ended at \S+; following timeline 2/ }, 60),
	'the receiver follows the promotion to timeline 2')
  or diag(receiver_log());
ok(wait_until(sub { -f object_path($repo2, '00000002.history') }, 30), '00000002.history is in the repository');
$s2->safe_psql('postgres', "INSERT INTO t2 VALUES ('timeline 2')");
my $tl2_seg = switch_wal($s2);
like($tl2_seg, qr/^00000002/, "the promoted standby writes $tl2_seg on timeline 2");
ok(wait_for_done($s2, $tl2_seg), "the promoted standby's module archived $tl2_seg");
ok(wait_until(sub { receiver_log() =~ /(?:archived segment|segment) \Q$tl2_seg\E/ }, 60),
	"the receiver archived $tl2_seg too");
for my $s ($tl2_seg, '00000002.history')
{
	my ($sha) = decode_object(object_path($repo2, $s));
	my ($want) = file_sha256($s2->data_dir . "/pg_wal/$s");
	is($sha, $want, "$s in the repository is byte-exact with the promoted standby's file");
}
kill 'TERM', $on_standby->{pid};
$on_standby->{handle}->finish;
$on_standby->{pid} = 0;

# A receiver that stopped: the slot stays on the server, with no one connected.
($rcheck) = check_json($repo2, '--dbname', $s2->connstr('postgres'));
is($rcheck && $rcheck->{state}, 'WARNING', 'check: receive is WARNING once the receiver stopped')
  or diag(explain($rcheck));
like($rcheck && $rcheck->{message}, qr/no receiver is connected to the slot/, '... naming the cause');
# Without the server, a stopped receiver shows as a state that ages.
usleep(3_100_000);    # the age is in whole seconds; CRITICAL is above twice the maximum
($rcheck) = check_json($repo2, '--receive-max-age', '1s');
is($rcheck && $rcheck->{state}, 'CRITICAL', 'check --receive-max-age 1s without --dbname: CRITICAL 3 s later')
  or diag(explain($rcheck));
like($rcheck && $rcheck->{message}, qr/without an upload/, '... saying the receiver has not uploaded since');
# Taken out of service: its state removed (the streamed WAL stays), the slot dropped.
my @wal_before = sort map { s{.*/}{}r } glob("$repo2/wal/*/*");
($rc, $out, $err) = br_tool_run('receive', '--remove-state', '--repo', $repo2, '--slot', 'walvault_rx');
is($rc, 0, 'receive --remove-state exits 0') or diag($err);
like($err, qr/removed the receive state of slot "walvault_rx"/, '... and says what it removed');
is_deeply([ sort map { s{.*/}{}r } glob("$repo2/wal/*/*") ], \@wal_before, '... and no WAL object');
$s2->safe_psql('postgres', "SELECT pg_drop_replication_slot('walvault_rx')");
($rcheck) = check_json($repo2, '--dbname', $s2->connstr('postgres'));
ok(!$rcheck, 'check: no receive check once no state is left');
($rc, $out, $err) = br_tool_run('receive', '--remove-state', '--repo', $repo2, '--slot', 'walvault_rx');
is($rc, 1, 'receive --remove-state with no state left exits 1');

# --synchronous: named in synchronous_standby_names, a commit returns only once its WAL is in the repository.
$connstr = $s2->connstr('postgres') . ' application_name=walvault_sync';
my $sync = IPC::Run::start(
	[ $tool, 'receive', '--repo', $repo2, '--dbname', $connstr, '--slot', 'walvault_sync', '--create-slot',
	  '--synchronous' ],
	'<', \undef, '>>', $recv_log, '2>>', $recv_log);
push @receivers, { handle => $sync, pid => $sync->{KIDS}[0]{PID} };
$s2->append_conf('postgresql.conf', "synchronous_standby_names = 'walvault_sync'\n");
$s2->reload;
ok(wait_until(sub {
		$s2->safe_psql('postgres',
			"SELECT sync_state FROM pg_stat_replication WHERE application_name = 'walvault_sync'") eq 'sync' }, 60),
	'the --synchronous receiver is the synchronous standby')
  or diag(receiver_log());
$s2->safe_psql('postgres', "INSERT INTO t2 VALUES ('synchronous')");
my $sync_lsn = $s2->safe_psql('postgres', 'SELECT pg_current_wal_flush_lsn()');
my $s2pid = $s2->{_pid};
kill 'KILL', $s2pid;    # at once: the commit returned, so its WAL is in the repository
ok(wait_until(sub { !kill(0, $s2pid) }, 30), 'the promoted standby is killed as soon as the commit returned');
$s2->{_pid} = undef;
# The state object follows within a second of an upload, or when the session ends (here: the server died).
my ($sync_flushed, $sout);
ok(wait_until(sub {
		(undef, $sout) = br_tool_run('receive', '--status', '--repo', $repo2, '--slot', 'walvault_sync');
		($sync_flushed) = $sout =~ /^flushed:\s+(\S+)$/m;
		return defined $sync_flushed && lsn_value($sync_flushed) >= lsn_value($sync_lsn); }, 30),
	"receive --status shows the commit ($sync_lsn) durable")
  or diag($sout);
usleep(500_000);
rmtree($s2->data_dir);
my ($r2, $r2rc, $r2out, $r2err) = pitr_restore_node('restored2', args => [ '--repo', $repo2 ]);
is($r2rc, 0, 'walvault restore from repo2 exits 0') or diag($r2err);
$r2->start;
ok(wait_until(sub { $r2->safe_psql('postgres', 'SELECT NOT pg_is_in_recovery()') eq 't' }, 120),
	'the restored server finished recovery');
is($r2->safe_psql('postgres', 'SELECT string_agg(what, \', \' ORDER BY what) FROM t2'),
	'synchronous, timeline 1, timeline 2', 'every commit is there, the synchronous one too');
$r2->stop;
unlike(receiver_log(), qr/different content|conflict/, 'the receivers of repo2 reported no conflict');

done_testing();
