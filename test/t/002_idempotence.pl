# Archiving is idempotent but never overwrites: a file offered again with the content already archived
# succeeds (PostgreSQL may re-offer a file after a crash, the .done rename not being durable); a file
# offered again with different content fails loudly, leaves the archived object alone, and archiving of
# other files goes on. Once the right bytes are back, it succeeds.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalvaultTest;

my $node = walvault_node('main');
my $repo = $node->basedir . '/repo';
$node->append_conf('postgresql.conf', "walvault.repo = '$repo'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION walvault');
my $segsize = segment_size($node);
my $status_dir = $node->data_dir . '/pg_wal/archive_status';

my @first = map { switch_wal($node) } 1 .. 3;
ok(wait_for_done($node, @first), 'first segments archived: ' . join(' ', @first));

# Offers a file in pg_wal to the archiver again: .done -> .ready, then a new segment to wake it up.
# Returns the new segment's name.
sub reoffer
{
	my ($name) = @_;
	unlink("$status_dir/$name.done");
	append_to_file("$status_dir/$name.ready", '');
	return switch_wal($node);
}

# ---- the same content again: success, the object untouched ----
my $again = $first[1];
my $object = object_path($repo, $again);
my ($object_sha) = file_sha256($object);
my @object_stat = (stat $object)[ 1, 9 ];    # inode, mtime
my $before = walvault_status($node);
my $pg_before = archiver_stats($node);

my $wake = reoffer($again);
ok(wait_for_done($node, $again, $wake), "$again offered again with identical content: marked archived");
my $st = wait_for_status($node, sub { $_[0]{archived_count} >= $before->{archived_count} + 2 });
ok($st, 'archived_count rose by 2 (the file offered again, and the new segment)');
is($st && $st->{failed_count}, $before->{failed_count}, 'failed_count did not rise');
ok(wait_until(sub { archiver_stats($node)->{archived_count} >= $pg_before->{archived_count} + 2 }),
	'pg_stat_archiver counted both');
is(archiver_stats($node)->{failed_count}, 0, 'pg_stat_archiver: no failure');
is((file_sha256($object))[0], $object_sha, "$again: archived object unchanged (sha256)");
is_deeply([ (stat $object)[ 1, 9 ] ], \@object_stat, "$again: archived object not rewritten (inode, mtime)");
check_archived($repo, $node, $again);

# ---- different content under an archived name: refused ----
# A file with a WAL file name on a timeline nobody uses, so that PostgreSQL itself never touches it.
my $crafted = '0000000A00000000000000F0';
my $crafted_path = $node->data_dir . "/pg_wal/$crafted";
my $original_bytes;
{
	open my $rnd, '<:raw', '/dev/urandom' or die "could not open /dev/urandom: $!";
	read($rnd, $original_bytes, $segsize) == $segsize or die 'short read from /dev/urandom';
	close $rnd;
}
sub write_crafted
{
	my ($bytes) = @_;
	open my $fh, '>:raw', $crafted_path or die "could not write $crafted_path: $!";
	print $fh $bytes;
	close $fh or die "could not write $crafted_path: $!";
}

write_crafted($original_bytes);
my ($original_sha) = file_sha256($crafted_path);
append_to_file("$status_dir/$crafted.ready", '');
my $woke = switch_wal($node);
ok(wait_for_done($node, $crafted, $woke), "$crafted archived once");
check_archived($repo, $node, $crafted);
my $crafted_object = object_path($repo, $crafted);
my ($crafted_object_sha) = file_sha256($crafted_object);
my @crafted_stat = (stat $crafted_object)[ 1, 7, 9 ];    # inode, size, mtime

# Change 4 kB in the middle and offer it again.
my $changed_bytes = $original_bytes;
substr($changed_bytes, $segsize / 2, 4096) = 'X' x 4096;
write_crafted($changed_bytes);
my ($changed_sha) = file_sha256($crafted_path);
isnt($changed_sha, $original_sha, 'crafted file now has different content');

$before = walvault_status($node);
my $log_offset = -s $node->logfile;
my $next = reoffer($crafted);

$st = wait_for_status($node, sub { $_[0]{failed_count} > $before->{failed_count} });
ok($st, 'failed_count rose');
is($st && $st->{last_failed_wal}, $crafted, "last_failed_wal is $crafted");
ok($st && defined $st->{last_failed_time}, 'last_failed_time set');
like($st && $st->{last_error}, qr/already archived with different content/,
	'last_error: already archived with different content');
like($st && $st->{last_error}, qr/\Q$original_sha\E/, 'last_error shows the archived sha256');
like($st && $st->{last_error}, qr/\Q$changed_sha\E/, 'last_error shows the local sha256');
ok(-e "$status_dir/$crafted.ready" && !-e "$status_dir/$crafted.done", "$crafted stays .ready");

# One line naming the file, the repository and both digests (a WARNING, an ERROR from PostgreSQL 17 on),
# then a HINT.
my $warning =
  qr/${\ failure_level($node)}:  could not archive "\Q$crafted\E" to "\Q$repo\E": (?=[^\n]*\Q$original_sha\E)(?=[^\n]*\Q$changed_sha\E)[^\n]*already archived with different content[^\n]*\n[^\n]*HINT:  /;
ok(wait_until(sub { $node->log_contains($warning, $log_offset) }),
	'server log: ' . failure_level($node) . ' naming the file, the repository and both sha256 digests, with a HINT');
ok(wait_until(sub { archiver_stats($node)->{failed_count} > 0 }), 'pg_stat_archiver counts the failure');
is(archiver_stats($node)->{last_failed_wal}, $crafted, "pg_stat_archiver: last_failed_wal is $crafted");

is((file_sha256($crafted_object))[0], $crafted_object_sha, 'archived object unchanged (sha256)');
is_deeply([ (stat $crafted_object)[ 1, 7, 9 ] ], \@crafted_stat, 'archived object not rewritten (inode, size, mtime)');
my ($decoded) = decode_object($crafted_object);
is($decoded, $original_sha, 'archived object still restores the original bytes');

# Archiving of other files goes on meanwhile: the next segments (older in archive order) get archived.
ok(wait_for_done($node, $next), "$next archived while $crafted is refused");
my ($during) = make_segments($node, 1, 'empty');
ok(wait_for_done($node, $during), "$during archived while $crafted is refused");
ok(-e "$status_dir/$crafted.ready", "$crafted still .ready");
is((file_sha256($crafted_object))[0], $crafted_object_sha, 'archived object still unchanged after retries');

# ---- the right bytes back: it succeeds, and archiving goes on ----
# The counters are read first: the archiver may retry the file as soon as its bytes are back.
$before = walvault_status($node);
write_crafted($original_bytes);
my $after = switch_wal($node);
ok(wait_for_done($node, $crafted, $after), "$crafted archived once its original bytes are back");
$st = wait_for_status($node, sub { $_[0]{archived_count} >= $before->{archived_count} + 2 });
ok($st, 'archived_count rose');
my @later = make_segments($node, 2, 'empty');
ok(wait_for_done($node, @later), 'later segments archived: ' . join(' ', @later));
$st = wait_for_status($node, sub { defined $_[0]{last_archived_wal} && $_[0]{last_archived_wal} eq $later[-1] });
ok($st, "last_archived_wal is $later[-1]");
check_archived($repo, $node, $_) for ($crafted, @later);
is((file_sha256($crafted_object))[0], $crafted_object_sha, 'archived object of the crafted file never changed');
is_deeply([ repo_temp_files($repo) ], [], 'no temporary files in the repository');

# Clean up the crafted file so that nothing of it is left in pg_wal.
unlink($crafted_path, "$status_dir/$crafted.ready", "$status_dir/$crafted.done");
ok(!-e $crafted_path, 'crafted file removed');

$node->stop;
done_testing();
