# walvault wal-fetch prefetching: a cluster restored from a base backup replays some twenty archived
# segments with prefetch on; the segments come from the spool (pg_wal/walvault-spool) rather than one
# round trip each, a planted truncated file and a planted file of another timeline are never served, the
# spool holds no WAL once recovery is over, and the prefetcher process is gone. No walvault process of the
# recovery loads libcrypto, libcurl or libpq (the dynamic loader's own log says so): served from the spool a
# segment needs no check, and the prefetcher and direct fetches check the xxh3_128. The same recovery
# with prefetch = 0 must not touch the spool; both replay times are noted for comparison (not asserted).
use strict;
use Cwd ();
use warnings;

use Fcntl qw(:flock);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes ();
use WalvaultTest;

my $tool = $ENV{WALVAULT_TOOL} // 'walvault';
my $spool_rel = 'pg_wal/walvault-spool';
my $nsegments = 20;

my $primary = walvault_node('primary', wal_keep_size => '0');
my $repo = $primary->basedir . '/repo';
set_conf($primary, 'walvault.repo' => "'$repo'");
$primary->start;
my $sysid = $primary->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
my $segsize = segment_size($primary);
# A walvault backup (the installed pg_basebackup may be of an older major than the server, and refuses
# newer servers); its WAL comes from the archive too.
pitr_backup($primary, 'base', '--repo', $repo);

# WAL after the backup that only the archive has: table rows in between filled segments.
$primary->safe_psql('postgres', 'CREATE TABLE t AS SELECT g, md5(g::text) AS h FROM generate_series(1, 10000) g');
my @segments;
for my $round (1 .. 4)
{
	push @segments, make_segments($primary, $nsegments / 4, 'hex');
	$primary->safe_psql('postgres',
		"INSERT INTO t SELECT g, md5(g::text) FROM generate_series($round * 10000 + 1, ($round + 1) * 10000) g");
}
push @segments, switch_wal($primary);
ok(wait_for_done($primary, @segments), scalar(@segments) . ' segments archived, ' . "$segments[0] .. $segments[-1]");
my $expected = $primary->safe_psql('postgres', 'SELECT count(*), sum(g), md5(string_agg(h, \'\' ORDER BY g)) FROM t');

# A restored cluster whose recovery replays everything archived, then promotes. Returns the node (started,
# recovery over) and the seconds from start to the end of recovery.
sub restored_node
{
	my ($name, $settings, $before_start, $env) = @_;
	$env //= '';
	my ($node, $rc, $out, $err) = pitr_restore_node($name, args => [ 'base', '--repo', $repo ],
		conf => "archive_mode = off\nrecovery_target_action = 'promote'\n");
	is($rc, 0, "$name: walvault restore exits 0") or diag($err);
	# The restore_command restore wrote into postgresql.auto.conf gives way to this test's: the last one wins.
	$node->append_conf('postgresql.auto.conf', "restore_command = '$env$tool wal-fetch %f %p --repo $repo $settings'\n");
	$node->set_recovery_mode;
	$before_start->($node) if $before_start;
	my $started = Time::HiRes::time();
	$node->start;
	ok($node->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()', 't'), "$name: recovery ended");
	my $seconds = Time::HiRes::time() - $started;
	is($node->safe_psql('postgres', 'SELECT count(*), sum(g), md5(string_agg(h, \'\' ORDER BY g)) FROM t'),
		$expected, "$name: exactly the primary's rows");
	my $log = slurp_file($node->logfile);
	my @missing = grep { $log !~ /restored log file "$_" from archive/ } @segments;
	is_deeply(\@missing, [], "$name: every segment was restored from the archive");
	unlike($log, qr/has wrong size|invalid record length|FATAL/, "$name: PostgreSQL found nothing wrong with a restored file");
	return ($node, $seconds);
}

# WAL files (segments and temporary downloads) in a spool directory.
sub spool_wal_files
{
	my ($dir) = @_;
	return grep { /^\.?[0-9A-F]{24}(\.tmp)?$/ } br_dir_entries($dir);
}

# ---- prefetch off: the spool is not used at all ----
my ($off, $off_seconds) = restored_node('prefetch_off', '--prefetch=0');
ok(!-e $off->data_dir . "/$spool_rel", 'prefetch = 0: no spool directory');
$off->stop;

# ---- prefetch on (the default), with two planted files ----
# The spool as a previous prefetcher of this repository and system would have left it in this boot of the
# machine (its marker), plus a truncated copy of a segment recovery will ask for, and a whole segment's
# worth of bytes named for another timeline.
my $boot_id = slurp_file('/proc/sys/kernel/random/boot_id');
chomp $boot_id;
my $truncated = $segments[2];
my $other_timeline = '00000002' . substr($segments[3], 8);
# Each wal-fetch (and the prefetcher it starts) writes the dynamic loader's log of the libraries it loads
# into $ld_log.PID.
my $ld_dir = PostgreSQL::Test::Utils::tempdir();
my $ld_log = "$ld_dir/ld";
my ($on, $on_seconds) = restored_node(
	'prefetch_on', '',
	sub {
		my ($node) = @_;
		my $spool = $node->data_dir . "/$spool_rel";
		mkdir($spool, 0700) or die "mkdir $spool: $!";
		# The store's identity: "file://" and the repository directory's real path.
		my $identity = 'file://' . Cwd::realpath($repo);
		append_to_file("$spool/spool.json",
			qq({"repository":"$identity","system_identifier":"$sysid","wal_segment_size":$segsize,"boot_id":"$boot_id"}\n));
		append_to_file("$spool/$truncated", 'x' x 8192);
		append_to_file("$spool/$other_timeline", "\0" x $segsize);
	},
	"LD_DEBUG=libs LD_DEBUG_OUTPUT=$ld_log ");
my $spool = $on->data_dir . "/$spool_rel";
my $log = slurp_file($on->logfile);
like($log, qr/walvault wal-fetch: prefetched file "\Q$spool_rel\E\/$truncated" is 8192 bytes, not $segsize: fetching it from the repository/,
	"the truncated $truncated was refused and fetched from the repository");
unlike($log, qr/"$other_timeline"/, "PostgreSQL never got $other_timeline");

# The prefetcher ends once it finds the end of the archive (a few seconds after recovery).
my $pid = slurp_file("$spool/prefetch.lock");
chomp $pid;
like($pid, qr/^\d+$/, "the prefetcher wrote its PID ($pid) into its lock file");
ok(wait_until(sub { !kill(0, $pid) }, 60), 'the prefetcher process exited after recovery');
open(my $lock, '<', "$spool/prefetch.lock") or die "open: $!";
ok(flock($lock, LOCK_EX | LOCK_NB), 'and nobody holds the spool lock');
close($lock);
is_deeply([ spool_wal_files($spool) ], [], 'the spool holds no WAL after recovery (the other timeline\'s file included)');

my %stats = slurp_file("$spool/stats.json") =~ /"(\w+)":(\d+)/g;
note("stats.json: " . join(', ', map { "$_ $stats{$_}" } sort keys %stats));
cmp_ok($stats{served} // 0, '>', 0, "segments were served from the spool ($stats{served} of " . scalar(@segments) . ')');
is($stats{refused}, 1, 'one spooled file refused: the truncated one');

# From a directory repository, recovery needs no TLS, HTTP or PostgreSQL client library, and no SHA-256: the
# tool opens those libraries on first use (tool/lazy_libs.cpp), which saves part of every restore_command's
# exec, and downloads are checked by their xxh3_128 (docs/repository-format.md).
my ($lean, $heavy, $zstd) = (0, 0, 0);
for my $file (glob("$ld_log.*"))
{
	my $text = slurp_file($file);
	next unless $text =~ /initialize program: \S*walvault$/m;    # a walvault process (not PostgreSQL's shell)
	if ($text =~ /(libcrypto|libcurl|libpq)\.so/) { $heavy++ } else { $lean++ }
	$zstd++ if $text =~ /libzstd\.so/;
}
note("wal-fetch and prefetcher processes: $lean loaded none of libcrypto, libcurl, libpq; $heavy did");
cmp_ok($lean, '>', $stats{served} // 0,
	'more walvault processes than segments served from the spool (the prefetcher, direct fetches) loaded none of them');
is($heavy, 0, 'no walvault process loaded libcrypto, libcurl or libpq');
is($zstd, $lean + $heavy, 'every walvault process loaded libzstd (the loader log is real)');
note(sprintf('replay of %d segments from the start of the server to the end of recovery: '
		. 'prefetch off %.2f s, prefetch on %.2f s', scalar(@segments), $off_seconds, $on_seconds));
$on->stop;

$primary->stop;
done_testing();
