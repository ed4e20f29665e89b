# walvault verify over a real repository that the module and walvault backup wrote:
#  - a healthy repository: exit 0, "no problems", and in --json every backup data object and WAL object
#    counted (the counts are compared with the files in the repository) and their bytes read; --quick reads
#    no object data; the repository is byte for byte the same afterwards.
#  - a flipped byte in a backup object and in a WAL segment object: exit 1, both keys named (text and JSON);
#    --quick, which reads no data, does not see them; flipped back, verify passes again.
#  - a WAL segment deleted after the backup: exit 1 naming the segment and the backup that needs it; repair
#    refills it from pg_wal and verify passes. A segment's object stored under the next segment's key is
#    named for holding another segment. A backup object deleted is found by --quick too.
#  - identity.json missing is named; --backup narrows to one backup and refuses an unknown label; --since
#    takes a span; usage errors exit non-zero.
use strict;
use warnings;

use File::Copy qw(copy move);
use File::Find;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalvaultTest;

my $node = walvault_node('primary');
my $repo = $node->basedir . '/repo';
set_conf($node, 'walvault.repo' => "'$repo'", wal_keep_size => "'1GB'");
$node->start;

my ($rc, $out, $err) = br_backup($node, $repo);
is($rc, 0, 'walvault backup exits 0') or diag($err);
my ($label) = $out =~ /^backup "([^"]+)" complete/;
$label //= '?';
$node->safe_psql('postgres', 'CREATE TABLE t AS SELECT g, md5(g::text) FROM generate_series(1, 20000) g');
my @after;
push @after, switch_wal($node) for 1 .. 4;
ok(wait_for_done($node, @after), 'the segments after the backup are archived');
ok(wait_for_no_ready($node), 'nothing left to archive');
$node->stop;

sub verify { return br_tool_run('verify', '--repo', $repo, @_); }

sub verify_json
{
	my ($vrc, $vout, $verr) = verify('--json', @_);
	my $doc = eval { JSON::PP->new->decode($vout) } // {};
	return ($vrc, $doc, $verr);
}

sub objects_under
{
	my ($dir, $re) = @_;
	my @found;
	find({ no_chdir => 1, wanted => sub { push @found, $File::Find::name if -f && /$re/ } }, $dir);
	return sort @found;
}

my @data_objects = objects_under("$repo/backup/$label/data", qr/\.zst(\.\d+)?$/);
my @wal_objects  = objects_under("$repo/wal",                 qr/\.zst$/);

# ---- a healthy repository ----
my @before = repo_listing($repo);
($rc, $out, $err) = verify();
is($rc, 0, 'verify of a healthy repository exits 0') or diag($out . $err);
like($out, qr/^verified \Q$repo\E: 1 backups \(\d+ objects\), \d+ WAL objects, .*: no problems$/m,
	'... and says there are no problems');
my $doc;
($rc, $doc, $err) = verify_json();
is($rc, 0, 'verify --json exits 0');
ok($doc->{ok}, '... "ok" is true');
is_deeply($doc->{problems}, [], '... no problems');
is($doc->{backups},        1,                      '... one backup verified');
is($doc->{backup_objects}, scalar(@data_objects), '... every data object of the backup');
is($doc->{wal_objects},    scalar(@wal_objects),  '... every WAL object');
my $stored = 0;
$stored += -s $_ for @data_objects, @wal_objects;
is($doc->{bytes_read}, $stored, '... read whole');
is_deeply([ repo_listing($repo) ], \@before, 'verify changed nothing in the repository');

($rc, $doc, $err) = verify_json('--quick');
is($rc, 0, 'verify --quick exits 0');
ok($doc->{quick}, '... says it was quick');
is($doc->{bytes_read}, 0, '... and read no object data');

# ---- flipped bytes ----
my ($biggest) = sort { -s $b <=> -s $a } @data_objects;
my $segment_object = object_path($repo, $after[1]);
my $data_offset    = br_flip_byte($biggest);
my $wal_offset     = br_flip_byte($segment_object);
my $data_key = substr($biggest,        length($repo) + 1);
my $wal_key  = substr($segment_object, length($repo) + 1);
($rc, $out, $err) = verify();
is($rc, 1, 'verify with a flipped byte in a backup object and a WAL object exits 1');
like($out, qr/^problem: \Q$data_key\E: /m, '... naming the backup object');
like($out, qr/^problem: \Q$wal_key\E: /m,  '... naming the WAL object');
like($err, qr/2 problem\(s\) in repository/, '... and counting two problems');
($rc, $doc, $err) = verify_json();
is($rc, 1, 'verify --json exits 1 too');
ok(!$doc->{ok}, '... "ok" is false');
is_deeply([ sort map { $_->{key} } @{ $doc->{problems} // [] } ], [ sort($data_key, $wal_key) ],
	'... listing both keys');
($rc, $out, $err) = verify('--quick');
is($rc, 0, 'verify --quick does not read the data, so it does not see a flipped byte');
br_flip_byte($biggest,        $data_offset);
br_flip_byte($segment_object, $wal_offset);
($rc, $out, $err) = verify();
is($rc, 0, 'flipped back, verify passes') or diag($out);

# ---- a hole, and repair ----
my $hole = $after[2];
unlink object_path($repo, $hole) or die;
($rc, $out, $err) = verify();
is($rc, 1, 'verify with a deleted segment exits 1');
like($out, qr/^problem: \Q@{[ substr(object_path($repo, $hole), length($repo) + 1) ]}\E: WAL segment \Q$hole\E is missing; expected backup \Q$label\E needs timeline 1 from /m,
	'... naming the segment and the backup that needs it');
($rc, $out, $err) = br_tool_run('repair', '--repo', $repo, '--pgdata', $node->data_dir);
is($rc, 0, 'repair refills it from pg_wal') or diag($err);
($rc, $out, $err) = verify();
is($rc, 0, 'after repair verify passes') or diag($out);

# Segment $after[0]'s object stored under $after[1]'s key.
my $moved = object_path($repo, $after[1]);
move($moved, "$moved.saved") or die;
copy(object_path($repo, $after[0]), $moved) or die;
($rc, $out, $err) = verify();
is($rc, 1, "a segment's object under another segment's key fails verify");
like($out, qr/^problem: \Q$wal_key\E: object holds "\Q$after[0]\E"; expected "\Q$after[1]\E"/m,
	'... naming what it holds');
like($out, qr/^problem: \Q$wal_key\E: segment starts at [0-9A-F]+\/[0-9A-F]+, not at /m,
	'... and that its pages start at the other segment');
move("$moved.saved", $moved) or die;

# A backup object deleted: the listing alone shows it.
my $deleted = $data_objects[0];
move($deleted, "$repo/saved-object") or die;
my $deleted_key = substr($deleted, length($repo) + 1);
($rc, $out, $err) = verify('--quick');
is($rc, 1, 'verify --quick finds a deleted backup object');
like($out, qr/^problem: \Q$deleted_key\E: backup object is missing; expected backup.json of backup \Q$label\E lists it/m,
	'... naming it and the manifest that lists it');
move("$repo/saved-object", $deleted) or die;

# ---- identity, --backup, --since, usage ----
move("$repo/identity.json", "$repo/identity.saved") or die;
($rc, $out, $err) = verify('--quick');
is($rc, 1, 'verify without identity.json exits 1');
like($out, qr/^problem: identity.json: the repository has no identity.json/m, '... naming it');
move("$repo/identity.saved", "$repo/identity.json") or die;

($rc, $doc, $err) = verify_json('--backup', $label);
is($rc, 0, "verify --backup $label exits 0");
is_deeply($doc->{backups_asked}, [$label], '... and names the backup asked for');
($rc, $out, $err) = verify('--backup', 'no-such-backup');
is($rc, 1, 'verify --backup with an unknown label exits 1');
like($err, qr/backup "no-such-backup" does not exist/, '... saying so');
($rc, $doc, $err) = verify_json('--since', '1h');
is($rc, 0, 'verify --since 1h exits 0');
ok(defined $doc->{since}, '... and reports the time it starts from');
($rc, $out, $err) = verify('--since', 'yesterday-ish');
isnt($rc, 0, 'a --since that is no time exits non-zero');
like($err, qr/--since must be a time or a span/, '... saying what it takes');
($rc, $out, $err) = verify('--no-such-flag');
isnt($rc, 0, 'an unknown option exits non-zero');
($rc, $out, $err) = br_tool_run('verify', '--help');
is($rc, 0, 'verify --help exits 0');
like($out, qr/--quick/, '... and lists --quick');

done_testing();
