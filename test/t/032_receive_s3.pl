# walvault receive into an S3 repository (s3rver over HTTPS): the loss window is the flush interval there too.
#  - The receiver and the archive module write the same complete segments into the bucket, byte-exact with
#    the primary's pg_wal file; the segment in progress is in the bucket as a streamed prefix that is a prefix
#    of the primary's file.
#  - RPO: a row committed, the flush interval + 1 s waited, the primary killed (kill -9) and its data directory
#    deleted; walvault restore from the bucket into a new directory and start: the row is there.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalvaultTest;
use S3rver;

my $tool = $ENV{WALVAULT_TOOL} // 'walvault';
my $s3 = S3rver->new('https', tls => 1);
$s3->start;
my $prefix = 'clusters/receive';
my $repo = $s3->repo($prefix);

my $node = walvault_node('primary');
my $creds = $s3->write_credentials($node->basedir . '/aws-credentials');
$node->append_conf('postgresql.conf', $s3->walvault_conf($prefix, $creds));
$node->start;
my @s3_args = (
	'--repo', $repo, '--s3-endpoint', $s3->endpoint, '--s3-region', $S3rver::REGION,
	'--s3-ca-file', $s3->ca_file, '--s3-credentials-file', $creds);

my ($rc, $out, $err) = pitr_tool('backup', '--dbname', $node->connstr('postgres'), '--checkpoint', 'fast', @s3_args);
is($rc, 0, 'walvault backup into the bucket exits 0') or diag($err);

my $recv_log = $node->basedir . '/receive.log';
my $receiver = IPC::Run::start(
	[ $tool, 'receive', @s3_args, '--dbname', $node->connstr('postgres'), '--slot', 'walvault_rx', '--create-slot',
	  '--receive-flush-interval', '1s' ],
	'<', \undef, '>>', $recv_log, '2>>', $recv_log);
my $receiver_pid = $receiver->{KIDS}[0]{PID};
END { kill 'KILL', $receiver_pid if $receiver_pid; }
sub receiver_log { return -e $recv_log ? slurp_file($recv_log) : ''; }
ok(wait_until(sub { receiver_log() =~ /streaming from slot "walvault_rx"/ }, 60), 'the receiver streams')
  or diag(receiver_log());

$node->safe_psql('postgres', "CREATE TABLE t (what text); INSERT INTO t SELECT 'bulk ' || g FROM generate_series(1, 20000) g");
my $seg = switch_wal($node);
ok(wait_for_done($node, $seg), "the module archived $seg");
ok(wait_until(sub { receiver_log() =~ /(?:archived segment|segment) \Q$seg\E/ }, 60), "the receiver archived $seg too");
my $dl = $node->basedir . '/downloaded';
$s3->download("$prefix/" . object_key($seg), $dl);
my ($sha) = decode_object($dl);
my ($want) = file_sha256($node->data_dir . "/pg_wal/$seg");
is($sha, $want, "$seg in the bucket is byte-exact with the primary's file");

# ---- RPO ----
$node->safe_psql('postgres', "INSERT INTO t VALUES ('marked')");
my $lsn = $node->safe_psql('postgres', 'SELECT pg_current_wal_flush_lsn()');
my $current = $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_current_wal_lsn())');
my $segsize = $node->safe_psql('postgres', "SELECT pg_size_bytes(current_setting('wal_segment_size'))");
my $need = lsn_value($lsn) % $segsize;    # the commit's end, within its segment
# The receiver replaces its prefix as WAL arrives (a new object, then the older one removed): list and
# download until the one prefix there holds the commit and is downloaded before it is replaced.
my ($hexlen, $listed);
ok( wait_until(
		sub {
			my @p = grep { m{/\Q$current\E\.[0-9A-F]{8}\.stream\.zst$} } keys %{ $s3->list("$prefix/wal/") };
			$listed = join(', ', @p);
			return 0 if @p != 1;
			($hexlen) = $p[0] =~ /\.([0-9A-F]{8})\.stream\.zst$/;
			return hex($hexlen) >= $need && $s3->download($p[0], $dl);
		},
		60),
	"the segment in progress, $current, is in the bucket as one streamed prefix holding the commit at $lsn")
  or diag("listed: $listed");
my $tmp = $node->basedir . '/prefix';
decode_object($dl, $tmp);
open my $fh, '<:raw', $node->data_dir . "/pg_wal/$current" or die "open: $!";
my $bytes = '';
read($fh, $bytes, hex($hexlen // '0'));
close $fh;
ok(slurp_file($tmp) eq $bytes, 'the streamed prefix is a prefix of the primary\'s segment file');

lose_primary($node);
recover_streamed_commit('restored', $current, @s3_args, '--archive-mode', 'off');

kill 'TERM', $receiver_pid;
$receiver->finish;
$receiver_pid = 0;
like(receiver_log(), qr/stopped; WAL is durable in the repository up to /, 'the receiver stops on SIGTERM');
unlike(receiver_log(), qr/different content|conflict/, 'the receiver reported no conflict');
$s3->stop;

done_testing();
