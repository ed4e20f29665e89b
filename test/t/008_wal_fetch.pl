# walvault wal-fetch as restore_command: a cluster restored from a base backup replays WAL that only the
# walvault repository has, and ends up with exactly the primary's data. Also the exit codes PostgreSQL
# relies on (1 = not there, quietly; 200 = stop, loudly) and where settings come from.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalvaultTest;

my $tool = $ENV{WALVAULT_TOOL} // 'walvault';
my $primary = walvault_node('primary', wal_keep_size => '0');
my $repo = $primary->basedir . '/repo';
set_conf($primary, 'walvault.repo' => "'$repo'");
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION walvault');
$primary->backup('base');

# Work after the backup, in WAL that only the archive will have once pg_wal is recycled.
$primary->safe_psql('postgres', 'CREATE DATABASE aa');
$primary->safe_psql('postgres', 'CREATE TABLE t AS SELECT g, md5(g::text) AS h FROM generate_series(1, 50000) g');
my @segments = make_segments($primary, 3, 'hex');
$primary->safe_psql('postgres', 'INSERT INTO t SELECT g, md5(g::text) FROM generate_series(50001, 60000) g');
my $last = switch_wal($primary);
ok(wait_for_done($primary, @segments, $last), 'the primary archived everything it wrote');
my $expected = $primary->safe_psql('postgres', 'SELECT count(*), sum(g), md5(string_agg(h, \'\' ORDER BY g)) FROM t');

# Settings from a config file, as an operator would keep them in /etc/walvault/walvault.conf.
my $conf = $primary->basedir . '/walvault.conf';
open(my $fh, '>', $conf) or die;
print $fh "# walvault tool settings\nrepo = '$repo'\n";
close($fh);

my $restored = PostgreSQL::Test::Cluster->new('restored');
$restored->init_from_backup($primary, 'base');
$restored->append_conf('postgresql.conf', qq(
archive_mode = off
restore_command = '$tool wal-fetch %f %p --config $conf'
recovery_target_action = 'promote'
));
$restored->set_recovery_mode;
$restored->start;
ok($restored->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'recovery from the archive ended');
is($restored->safe_psql('postgres', 'SELECT count(*), sum(g), md5(string_agg(h, \'\' ORDER BY g)) FROM t'),
	$expected, 'the restored cluster has exactly the primary\'s rows');
is($restored->safe_psql('postgres', "SELECT count(*) FROM pg_database WHERE datname = 'aa'"), '1',
	'database created after the backup is there');
my $log = slurp_file($restored->logfile);
like($log, qr/restored log file "$segments[0]" from archive/, "$segments[0] came from the archive");
unlike($log, qr/walvault wal-fetch:/, 'no wal-fetch error along the way (probes for missing files are quiet)');
$restored->stop;

# Exit codes and messages, called as PostgreSQL calls it.
my $dir = PostgreSQL::Test::Utils::tempdir;
my ($stdout, $stderr);
my $rc = run_log_rc([ $tool, 'wal-fetch', $segments[0], "$dir/out", '--repo', $repo ], \$stdout, \$stderr);
is($rc, 0, 'wal-fetch of an archived segment exits 0');
is((file_sha256("$dir/out"))[0], read_trailer(object_path($repo, $segments[0]))->{sha256},
	'and writes the original bytes (the sha256 recorded at archiving)');
ok(-s "$dir/out" == segment_size($primary), 'destination has a whole segment');
is(file_xxh3_128("$dir/out"), read_trailer(object_path($repo, $segments[0]))->{xxh3_128},
	'... whose XXH3-128, which wal-fetch checks, is the one recorded at archiving (xxhsum agrees)');

# Objects of an older walvault, whose trailers have no xxh3_128: served all the same, checked by their sha256.
my $old = "$dir/oldrepo";
PostgreSQL::Test::RecursiveCopy::copypath($repo, $old);
for my $i (0, 1)
{
	my $path = object_path($old, $segments[$i]);
	my $meta = read_trailer($path);
	delete $meta->{xxh3_128};
	chmod(0600, $path);
	write_trailer($path, $meta);
	ok(!exists read_trailer($path)->{xxh3_128}, "$segments[$i]: the copy's trailer has no xxh3_128");
}
$rc = run_log_rc([ $tool, 'wal-fetch', $segments[0], "$dir/old0", '--repo', $old ], \$stdout, \$stderr);
is($rc, 0, 'wal-fetch of an older walvault\'s object exits 0');
is((file_sha256("$dir/old0"))[0], read_trailer(object_path($old, $segments[0]))->{sha256},
	'... with the original bytes');
# Changed where only a content checksum can tell: a byte of the trailer's sha256 itself.
{
	my $path = object_path($old, $segments[1]);
	my $meta = read_trailer($path);
	$meta->{sha256} =~ tr/0-9a-f/1-9a-f0/;
	write_trailer($path, $meta);
}
$rc = run_log_rc([ $tool, 'wal-fetch', $segments[1], "$dir/old1", '--repo', $old ], \$stdout, \$stderr);
cmp_ok($rc, '>', 125, 'an older walvault\'s object that does not match its sha256 stops recovery');
like($stderr, qr/bytes with sha256/, '... and the message says the sha256 did not match');
ok(!-e "$dir/old1", '... and nothing is written');

$rc = run_log_rc([ $tool, 'wal-fetch', '00000009.history', "$dir/h", '--repo', $repo ], \$stdout, \$stderr);
is($rc, 1, 'a file the repository does not have: exit 1');
is($stderr, '', '... and nothing on stderr');
ok(!-e "$dir/h" && !-e "$dir/h.walvault-tmp", '... and no file written');

# A damaged copy of the repository: stop recovery (exit > 125), never "not found".
my $bad = "$dir/badrepo";
PostgreSQL::Test::RecursiveCopy::copypath($repo, $bad);
my $obj = object_path($bad, $segments[0]);
open(my $oh, '+<', $obj) or die;
binmode $oh;
seek($oh, 4000, 0);
print $oh "\xff\xff\xff\xff";
close($oh);
my @scenarios = (
	[ 'damaged object', [ $segments[0], "$dir/d", '--repo', $bad ], qr/could not restore "$segments[0]".*corrupt|checksum/ ],
	[ 'repository not there (an unmounted directory)', [ $segments[0], "$dir/d", '--repo', "$dir/nonexistent" ],
		qr/has no identity\.json: it is not there or not a walvault repository/ ],
	[ 'arguments swapped', [ "$dir/d", $segments[0], '--repo', $repo ], qr/is not a WAL file name/ ],
	[ 'no repository', [ $segments[0], "$dir/d" ], qr/no repository given/ ],
	[ 'bad setting', [ $segments[0], "$dir/d", '--repo', 'relative/repo' ], qr/absolute directory path.*from --repo/ ],
);
for my $case (@scenarios)
{
	my ($what, $args, $pattern) = @$case;
	local $ENV{WALVAULT_REPO};
	local $ENV{WALVAULT_CONFIG};
	$rc = run_log_rc([ $tool, 'wal-fetch', @$args ], \$stdout, \$stderr);
	cmp_ok($rc, '>', 125, "$what: exit status $rc stops recovery");
	like($stderr, $pattern, "$what: message");
	ok(!-e "$dir/d", "$what: nothing written");
}

# Precedence: flag over environment over config file.
{
	local $ENV{WALVAULT_REPO} = $bad;
	$rc = run_log_rc([ $tool, 'wal-fetch', $segments[1], "$dir/p1", '--config', $conf ], \$stdout, \$stderr);
	is($rc, 0, 'environment beats config file (the damaged copy still has an intact second segment)');
	$rc = run_log_rc([ $tool, 'wal-fetch', $segments[0], "$dir/p2", '--repo', $repo ], \$stdout, \$stderr);
	is($rc, 0, 'flag beats environment (the damaged object is not read)');
	$rc = run_log_rc([ $tool, 'wal-fetch', $segments[0], "$dir/p3", '--config', $conf ], \$stdout, \$stderr);
	cmp_ok($rc, '>', 125, 'the environment was really used: its damaged object stops the fetch');
}

$primary->stop;
done_testing();

# Runs a command, capturing stdout and stderr, and returns its exit status.
sub run_log_rc
{
	my ($cmd, $out, $err) = @_;
	IPC::Run::run($cmd, '>', $out, '2>', $err);
	return $? >> 8;
}
