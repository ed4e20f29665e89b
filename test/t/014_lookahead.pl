# Look-ahead never reports a file archived before its own upload is verified. One segment's object is
# held by another writer (its temp-file lock, as a second archiver writing the same file would hold it):
# walvault archives the segments after it ahead of PostgreSQL, but PostgreSQL is never told that the held
# one, or any after it, is archived until the held one really is. Then the lock goes, and everything is
# done at once, each object holding exactly its segment.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalvaultTest;

my $node = walvault_node('main', conf => "walvault.parallel = 4\n");
my $repo = $node->basedir . '/repo';
set_conf($node, 'walvault.repo' => "'$repo'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION walvault');
ok(wait_for_done($node, switch_wal($node)), 'archiving works (the repository has its identity)');

# The segment being written now is the next to complete: hold its object's temp file.
my $held = $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_current_wal_insert_lsn())');
my $object = object_path($repo, $held);
my $lock = hold_object($repo, $held);
ok($lock, "holding the lock of $held\'s temp file");

my @segments = make_segments($node, 4, 'empty');
is($segments[0], $held, "the first completed segment is $held");
my @after = @segments[ 1 .. 3 ];

ok(wait_until(sub { -f object_path($repo, $after[0]) && -f object_path($repo, $after[1]) }),
	"look-ahead archived $after[0] and $after[1] while $held is held");
ok(wait_until(sub { (walvault_status($node)->{failed_count} // 0) > 0 }), "the attempt at $held failed");
like(walvault_status($node)->{last_error}, qr/\Q$held\E|another|busy|in progress/i,
	'walvault_status() says why: ' . (walvault_status($node)->{last_error} // ''));
my $status_dir = $node->data_dir . '/pg_wal/archive_status';
ok(!-e "$status_dir/$held.done" && -e "$status_dir/$held.ready", "$held is still .ready");
ok(!-f $object, "no object for $held");
for my $name (@after)
{
	ok(!-e "$status_dir/$name.done", "PostgreSQL was not told $name is archived before $held");
}
my $stats = archiver_stats($node);
ok(!defined $stats->{last_archived_wal} || $stats->{last_archived_wal} lt $held,
	'pg_stat_archiver.last_archived_wal is before ' . $held . ' (' . ($stats->{last_archived_wal} // 'none') . ')');

# Release; a new segment wakes the archiver up.
close($lock);
my $last = switch_wal($node);
ok(wait_for_done($node, @segments, $last), 'once released, every segment is archived, in order');
check_archived($repo, $node, $_) for ($held, @after);
is(archiver_stats($node)->{last_archived_wal}, $last, "pg_stat_archiver ends at $last");

$node->stop;
done_testing();
