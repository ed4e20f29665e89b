# A file is reported archived only once it is in the repository configured when PostgreSQL asked for it.
# Two S3 stores hold a bucket of the same name, so "s3://walvault/PREFIX" names both and only the endpoint
# tells them apart. The server archives into the first through a relay that can hold the upload of a
# named file, as a slow network would. While the look-ahead upload of G (the file after F) hangs, the
# settings are switched to the second store by a reload; F, whose call began before, finishes; then
# PostgreSQL asks for G under the new settings, and the held upload of G to the first store is let go and
# succeeds there. G must then be archived into the second store, not taken as done because an upload to
# "the same" repository location succeeded.
use strict;
use warnings;

use IO::Select;
use IO::Socket::INET;
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use WalvaultTest;
use S3rver;

# A TCP relay on 127.0.0.1 to the given port that holds every chunk a client sends while it mentions a
# name for which a file exists in $hold_dir (the request line of an upload names its object). Runs as a
# process group of its own (one process per connection); returns its PID and port.
sub start_holding_relay
{
	my ($target_port, $hold_dir) = @_;
	my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 32, ReuseAddr => 1)
	  or die "relay: listen: $!";
	my $port = $listen->sockport;
	my $pid = fork() // die "fork: $!";
	if ($pid == 0)
	{
		# Children leave with POSIX::_exit: the test's END blocks (which stop clusters) are not theirs.
		eval {
			POSIX::setpgid(0, 0);
			$SIG{CHLD} = 'IGNORE';
			while (my $client = $listen->accept)
			{
				my $child = fork() // next;
				if ($child == 0)
				{
					eval { relay_connection($client, $target_port, $hold_dir) };
					POSIX::_exit(0);
				}
				close $client;
			}
		};
		POSIX::_exit(0);
	}
	close $listen;
	return ($pid, $port);
}

sub relay_connection
{
	my ($client, $target_port, $hold_dir) = @_;
	my $server = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $target_port) or return;
	my $select = IO::Select->new($client, $server);
	for (;;)
	{
		for my $from ($select->can_read(120))
		{
			my $n = sysread($from, my $buf, 65536);
			return if !$n;
			my $to = $from == $client ? $server : $client;
			if ($from == $client)
			{
				for (my $waited = 0; $waited < 600; ++$waited)
				{
					opendir(my $dh, $hold_dir) or last;
					my @held = grep { !/^\./ && index($buf, $_) >= 0 } readdir($dh);
					closedir $dh;
					last unless @held;
					usleep(100_000);
				}
			}
			while (length $buf)
			{
				my $written = syswrite($to, $buf) // return;
				substr($buf, 0, $written) = '';
			}
		}
	}
}

sub next_segment_name
{
	my ($name) = @_;
	my $log = hex(substr($name, 8, 8));
	my $seg = hex(substr($name, 16, 8)) + 1;
	($log, $seg) = ($log + 1, 0) if $seg > 0xFF;    # 16 MiB segments
	return substr($name, 0, 8) . sprintf('%08X%08X', $log, $seg);
}

my $first = S3rver->new('first');
my $second = S3rver->new('second');
$_->start for ($first, $second);
is($first->bucket, $second->bucket, 'both stores hold a bucket of the same name');
my $holds = PostgreSQL::Test::Utils::tempdir('holds');
my ($relay_pid, $relay_port) = start_holding_relay($first->port, $holds);
my $relay_endpoint = "http://127.0.0.1:$relay_port";

my $prefix = 'clusters/main';
my $node = walvault_node('primary', conf => "walvault.parallel = 8\n");
my $creds = $first->write_credentials($node->basedir . '/aws-credentials');
$node->append_conf('postgresql.conf', $first->walvault_conf($prefix, $creds));
$node->adjust_conf('postgresql.conf', 'walvault.s3_endpoint', "'$relay_endpoint'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION walvault');
my @before = make_segments($node, 2, 'random');
ok(wait_for_done($node, @before), 'archiving into the first store (through the relay) works');

# Hold the uploads of the next two segments, F and G, then write them.
my $f = $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_current_wal_insert_lsn())');
my $g = next_segment_name($f);
append_to_file("$holds/$_", '') for ($f, $g);
is_deeply([ make_segments($node, 2, 'random') ], [ $f, $g ], "F and G are $f and $g");
ok( wait_until(
		sub { $node->safe_psql('postgres', 'SELECT in_flight_count FROM walvault_status()') >= 2 }, 60),
	'the archiver has taken F and G on: their uploads are held on the way to the first store');

# Switch to the second store (same bucket name, same prefix, another endpoint).
$node->adjust_conf('postgresql.conf', 'walvault.s3_endpoint', "'" . $second->endpoint . "'");
$node->reload;
$node->poll_query_until('postgres',
	"SELECT setting = '" . $second->endpoint . "' FROM pg_settings WHERE name = 'walvault.s3_endpoint'")
  or die 'walvault.s3_endpoint did not change at reload';

# F's call began under the old settings: it ends in the first store. Then PostgreSQL, having read the new
# settings, asks for G; only after that does G's held upload to the first store go through.
unlink("$holds/$f") or die;
ok(wait_for_done($node, $f), 'F is marked archived');
ok(defined $first->head("$prefix/" . object_key($f)), 'F is in the first store, configured when its call began');
sleep 2;
unlink("$holds/$g") or die;
my $last = switch_wal($node);
ok(wait_for_done($node, $g, $last), 'G and the next segment are marked archived');
ok(defined $second->head("$prefix/" . object_key($g)),
	'G, asked for after the switch, is in the second store (the store configured then)');
ok(defined $second->head("$prefix/" . object_key($last)), 'so is the next segment');
ok(defined $second->head("$prefix/identity.json"), 'the second store has the repository identity');

# What reached the second store is what pg_wal had (stock zstd, the trailer's checksums).
my $dir = PostgreSQL::Test::Utils::tempdir('download');
ok($second->download_prefix($prefix, $dir, map { object_key($_) } ($g, $last)), 'aws s3 cp downloads them');
check_archived($dir, $node, $_, "second store: $_") for ($g, $last);

$node->stop;
kill 'TERM', -$relay_pid;
waitpid($relay_pid, 0);
$_->stop for ($first, $second);
done_testing();
