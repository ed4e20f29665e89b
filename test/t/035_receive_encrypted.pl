# walvault receive with encryption_recipients, beside an archive module that encrypts to the same recipient:
#  - the receiver holds recipients only, as the archiver does: the segments both write are compared by the
#    note in the age header, and neither reports a conflict;
#  - every streamed prefix, as uploaded again and again while a segment fills (the frames already compressed
#    are kept, the whole object is encrypted afresh), is an age file that stock age -d | zstd -d turns into a
#    prefix of the primary's segment file;
#  - the primary lost (kill -9, data directory deleted), walvault restore with --encryption-identity-file
#    recovers the row committed just before, through the encrypted streamed prefix.
use strict;
use warnings;

use File::Copy;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use WalvaultTest;

my $tool = $ENV{WALVAULT_TOOL} // 'walvault';
my $dir = PostgreSQL::Test::Utils::tempdir;
my $key = "$dir/key.txt";
system('age-keygen', '-o', $key) == 0 or die "age-keygen -o $key failed";
chmod(0600, $key);
chomp(my $recipient = `age-keygen -y $key`);
like($recipient, qr/^age1[0-9a-z]{58}$/, 'age-keygen made a recipient');

my $repo = "$dir/repo";
my $node = walvault_node('primary', repo => $repo, conf => "walvault.encryption_recipients = '$recipient'\n");
$node->start;
my ($rc, $out, $err) = br_backup($node, $repo, '--encryption-recipients', $recipient);
is($rc, 0, 'walvault backup --encryption-recipients exits 0') or diag($err);

my $recv_log = "$dir/receive.log";
sub receiver_log { return -e $recv_log ? slurp_file($recv_log) : ''; }
my $h = IPC::Run::start(
	[ $tool, 'receive', '--repo', $repo, '--dbname', $node->connstr('postgres'), '--slot', 'walvault_rx',
	  '--create-slot', '--receive-flush-interval', '1s', '--encryption-recipients', $recipient ],
	'<', \undef, '>>', $recv_log, '2>>', $recv_log);
my $pid = $h->{KIDS}[0]{PID};
END { kill 'KILL', $pid if $pid; }
ok(wait_until(sub { receiver_log() =~ /streaming from slot "walvault_rx"/ }, 60), 'the receiver streams')
  or diag(receiver_log());

# A segment both write; then a segment in progress, uploaded several times as it grows past frame boundaries.
$node->safe_psql('postgres', "CREATE TABLE t (what text); INSERT INTO t VALUES ('first')");
my $seg1 = switch_wal($node);
ok(wait_for_done($node, $seg1), "the module archived $seg1");
ok(wait_until(sub { receiver_log() =~ /(?:archived segment|segment) \Q$seg1\E/ }, 60), "the receiver archived $seg1 too");
my $pg_wal = $node->data_dir . '/pg_wal';
system("age -d -i '$key' '" . object_path($repo, $seg1) . "' | zstd -q -d -c > '$dir/seg1'") == 0
  or die "age -d | zstd -d of $seg1 failed";
is(file_sha256("$dir/seg1"), file_sha256("$pg_wal/$seg1"), "age -d | zstd -d gives $seg1 back");

my $segsize = $node->safe_psql('postgres', "SELECT pg_size_bytes(current_setting('wal_segment_size'))");
my $target = $segsize * 0.6 < 4 * 1024 * 1024 ? $segsize * 0.6 : 4 * 1024 * 1024;
my $rows = int($target / 400);    # a quarter of the target per round: ~100 bytes of WAL a row
my $rounds = 0;
# Rounds of rows, one upload each, until the segment holds several complete frames (512 KiB each).
while ($rounds < 30
	&& $node->safe_psql('postgres', "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn) % $segsize") < $target)
{
	$rounds++;
	$node->safe_psql('postgres', "INSERT INTO t SELECT 'bulk $rounds ' || g FROM generate_series(1, $rows) g");
	usleep(1_500_000);    # the flush interval, and a half
}
$node->safe_psql('postgres', "INSERT INTO t VALUES ('marked')");
my $lsn = $node->safe_psql('postgres', 'SELECT pg_current_wal_flush_lsn()');
my $current = $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_current_wal_lsn())');
cmp_ok($rounds, '>=', 3, "$rounds rounds of $rows rows, each uploaded, fill $current past $target bytes");
ok( wait_until(
		sub {
			my $st = receive_status($repo, 'walvault_rx');
			return $st && lsn_value($st->{flushed}) >= lsn_value($lsn);
		},
		60),
	"the receiver made the commit at $lsn durable");

# Every streamed prefix in the repository is an age file and a prefix of the primary's segment file.
my @prefixes = glob("$repo/wal/*/$current.*.stream.zst");
ok(scalar @prefixes >= 1, "$current is in the repository as a streamed prefix");
my ($good, $gone) = (0, 0);
for my $p (@prefixes)
{
	my ($hexlen) = $p =~ m{\.([0-9A-F]{8})\.stream\.zst$} or next;
	# A copy, read at once: the receiver replaces its prefix as WAL arrives (a longer one, then this removed).
	my $copy = "$dir/prefix.age";
	if (!copy($p, $copy)) { -e $p ? fail("could not copy $p: $!") : $gone++; next; }
	open my $fh, '<:raw', $copy or die "open $copy: $!";
	my $magic = '';
	read($fh, $magic, 21);
	close $fh;
	my $tmp = "$dir/prefix";
	my $ok = system("age -d -i '$key' '$copy' | zstd -q -d -c > '$tmp'") == 0;
	open $fh, '<:raw', "$pg_wal/$current" or die "open $pg_wal/$current: $!";
	my $want = '';
	read($fh, $want, hex $hexlen);
	close $fh;
	if ($ok && $magic eq 'age-encryption.org/v1' && slurp_file($tmp) eq $want) { $good++ }
	else { fail("$p is not an age file of a prefix of pg_wal/$current") }
}
is($good, scalar(@prefixes) - $gone,
	'every streamed prefix is an age file of a prefix of the primary\'s segment file');

unlike(receiver_log(), qr/connecting again/, 'the receiver kept its connection') or diag(receiver_log());

# The primary is lost: killed, its data directory deleted; restored with the identity.
lose_primary($node);
recover_streamed_commit('restored', $current, '--repo', $repo, '--encryption-identity-file', $key);

kill 'TERM', $pid;
$h->finish;
$pid = 0;
like(receiver_log(), qr/walvault receive: stopped; WAL is durable in the repository up to /,
	'the receiver stops on SIGTERM');
unlike(receiver_log(), qr/different content|conflict/, 'the receiver reported no conflict');
unlike(slurp_file($node->logfile), qr/different content/, 'the archive module reported no conflict');

done_testing();
