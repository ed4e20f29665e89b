# walvault wal-push as an archive_command, and walvault repair.
#  - A server without the module archives with archive_command = 'walvault wal-push --repo R %p': every
#    segment is in the repository at its documented key and decodes (zstd, the independent client) to
#    exactly the bytes in pg_wal.
#  - Pushing the same file again succeeds and says so; a different file under the same name fails and the
#    archived object is left alone; a recycled segment (right name, old content) and another cluster's
#    segment are refused before anything is written.
#  - repair: a segment deleted from the repository is still in pg_wal; list shows the hole, repair --dry-run
#    names it and writes nothing, repair archives it, the hole is gone and the object decodes to the
#    segment's bytes. A hole pg_wal cannot fill makes repair exit 1 and name it.
use strict;
use warnings;

use File::Copy;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalvaultTest;

my $tool = $ENV{WALVAULT_TOOL} // 'walvault';
my $node = new_node('pusher');
$node->init(allows_streaming => 1);
my $repo = $node->basedir . '/repo';
$node->append_conf('postgresql.conf',
	"archive_mode = on\narchive_command = '$tool wal-push --repo $repo %p'\nwal_keep_size = '1GB'\n");
$node->start;

my @segments = make_segments($node, 3, 'hex');
my $last = switch_wal($node);
push @segments, $last;
ok(wait_for_done($node, @segments), 'archive_command archived ' . join(' ', @segments));
for my $seg (@segments)
{
	my $object = object_path($repo, $seg);
	ok(-f $object, "$seg is at its documented key");
	my $file = $node->data_dir . "/pg_wal/$seg";
	is_deeply([ decode_object($object) ], [ file_sha256($file) ], "$seg decodes to the bytes in pg_wal");
}
ok(-f "$repo/identity.json", 'the repository has its identity');

# ---- the same file again; a different file under the same name; a recycled one; another cluster's ----
my $wal = $node->data_dir . '/pg_wal';
my ($rc, $out, $err) = br_tool_run('wal-push', '--repo', $repo, '--pgdata', $node->data_dir, "$wal/$segments[0]");
is($rc, 0, 'pushing an archived segment again exits 0') or diag($err);
like($out, qr/^\Q$segments[0]\E was already archived, with the same content$/m, '... and says so');

my $tmp = PostgreSQL::Test::Utils::tempdir();
my $object = object_path($repo, $segments[1]);
my $object_before = slurp_file($object);
copy("$wal/$segments[1]", "$tmp/$segments[1]") or die;
open my $fh, '+<', "$tmp/$segments[1]" or die;
binmode $fh;
seek $fh, 1_000_000, 0;
print $fh 'different';
close $fh;
($rc, $out, $err) = br_tool_run('wal-push', '--repo', $repo, '--pgdata', $node->data_dir, "$tmp/$segments[1]");
isnt($rc, 0, 'pushing different content under an archived name fails');
like($err, qr/\Q$segments[1]\E/, '... naming the file');
is(slurp_file($object), $object_before, '... and the archived object is unchanged');

# A recycled segment: the name of a segment to come, the content of an old one.
my $future = sprintf('%s%08X', substr($last, 0, 16), hex(substr($last, 16)) + 20);
copy("$wal/$segments[0]", "$tmp/$future") or die;
($rc, $out, $err) = br_tool_run('wal-push', '--repo', $repo, '--pgdata', $node->data_dir, "$tmp/$future");
isnt($rc, 0, 'a recycled segment is refused');
like($err, qr/refusing to archive "\Q$future\E": .* it is a recycled segment, not yet rewritten/, '... saying why');
ok(!-e object_path($repo, $future), '... and nothing is written');

my $other = new_node('other');
$other->init(allows_streaming => 1);
$other->start;
my $other_seg = $other->safe_psql('postgres', 'SELECT pg_walfile_name(pg_current_wal_lsn())');
copy($other->data_dir . "/pg_wal/$other_seg", "$tmp/$future") or die;
($rc, $out, $err) = br_tool_run('wal-push', '--repo', $repo, '--pgdata', $node->data_dir, "$tmp/$future");
isnt($rc, 0, "another cluster's segment is refused");
like($err, qr/belongs to database system \d+, not to/, '... naming both systems');
($rc, $out, $err) = br_tool_run('wal-push', '--repo', $repo, '--pgdata', $other->data_dir,
	$other->data_dir . "/pg_wal/$other_seg");
isnt($rc, 0, "pushing from another cluster's data directory is refused");
like($err, qr/repository "\Q$repo\E" belongs to database system \d+, not to this one/, '... naming the repository');
$other->stop;
($rc, $out, $err) = br_tool_run('wal-push', '--repo', $repo, "$tmp/not-a-wal-file");
isnt($rc, 0, 'a file that is no WAL file is refused');
like($err, qr/"not-a-wal-file" is not a WAL file name/, '... saying so');

# ---- repair ----
my $hole = $segments[2];
unlink object_path($repo, $hole) or die;
my $list = br_list_json($repo) // {};
my ($tl1) = grep { $_->{timeline} == 1 } @{ $list->{wal} // [] };
is_deeply([ map { $_->{first_missing} } @{ $tl1 ? $tl1->{gaps} : [] } ], [$hole], "list shows the hole at $hole");
my @before = repo_listing($repo);
($rc, $out, $err) = br_tool_run('repair', '--repo', $repo, '--pgdata', $node->data_dir, '--dry-run');
is($rc, 0, 'repair --dry-run exits 0') or diag($err);
like($out, qr/^would archive \Q$hole\E$/m, '... naming the segment it would archive');
is_deeply([ repo_listing($repo) ], \@before, '... and writes nothing');
($rc, $out, $err) = br_tool_run('repair', '--repo', $repo, '--pgdata', $node->data_dir);
is($rc, 0, 'repair exits 0') or diag($err);
like($out, qr/^archived \Q$hole\E: /m, "... archiving $hole");
is_deeply([ decode_object(object_path($repo, $hole)) ], [ file_sha256("$wal/$hole") ],
	"$hole decodes to the bytes in pg_wal");
$list = br_list_json($repo) // {};
($tl1) = grep { $_->{timeline} == 1 } @{ $list->{wal} // [] };
is_deeply($tl1 && $tl1->{gaps}, [], 'list shows no hole any more');

# A hole that pg_wal cannot fill: the segment is gone from both.
$node->stop;
my $lost = $segments[1];
unlink object_path($repo, $lost) or die;
unlink "$wal/$lost" or die;
($rc, $out, $err) = br_tool_run('repair', '--repo', $repo, '--pgdata', $node->data_dir);
is($rc, 1, 'repair with a hole pg_wal cannot fill exits 1');
like($out, qr/^still missing on timeline 1: \Q$lost\E \.\. \Q$lost\E \(1 segments\)$/m, '... naming the hole');

done_testing();
