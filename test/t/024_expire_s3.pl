# Retention on S3 (s3rver over HTTPS): three backups with WAL between them; expire --retain-full 1 removes
# the two older backups and the WAL before the newest one's start, in DeleteObjects batches, and nothing
# else. What is in the bucket is checked with the AWS CLI: --dry-run changes nothing; after the real run no
# key of the old backups and no segment before the kept backup's first one is left, and every segment from
# it on is. A pinned backup (--standalone) keeps only its own WAL. walvault verify, reading every object
# through S3, finds nothing wrong with what is left. The repository then restores to the newest commit.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalvaultTest;
use S3rver;

my $s3 = S3rver->new('https', tls => 1);
$s3->start;
my $prefix = 'clusters/expire';
my $repo = $s3->repo($prefix);

my $primary = walvault_node('primary');
my $creds = $s3->write_credentials($primary->basedir . '/aws-credentials');
$primary->append_conf('postgresql.conf', $s3->walvault_conf($prefix, $creds));
$primary->start;
my @s3_args = (
	'--repo', $repo, '--s3-endpoint', $s3->endpoint, '--s3-region', $S3rver::REGION,
	'--s3-ca-file', $s3->ca_file, '--s3-credentials-file', $creds);

$primary->safe_psql('postgres', 'CREATE TABLE t (i int)');
my %first_wal;
for my $n (1 .. 3)
{
	$primary->safe_psql('postgres', "INSERT INTO t SELECT generate_series(1, 1000)");
	my @seg = make_segments($primary, 2, 'hex');
	ok(wait_for_done($primary, @seg), "segments before b$n archived");
	pitr_backup($primary, "b$n", @s3_args);
	my $list = pitr_list(@s3_args) // {};
	my ($b) = grep { $_->{label} eq "b$n" } @{ $list->{backups} // [] };
	$first_wal{"b$n"} = $b && $b->{start_wal};
}
$primary->safe_psql('postgres', "INSERT INTO t SELECT generate_series(1, 1000)");
my $last = switch_wal($primary);
ok(wait_for_done($primary, $last), "the newest segment, $last, archived");

sub bucket_keys
{
	my $listing = $s3->list("$prefix/");
	return sort map { s{^\Q$prefix\E/}{}r } keys %$listing;
}
sub segments_in { return grep { m{^wal/[0-9A-F]{16}/([0-9A-F]{24})\.zst$} } @_; }
sub name_of { return $_[0] =~ m{/([0-9A-F]{24})\.zst$} ? $1 : undef; }

# ---- b1 pinned with its own WAL only ----
my ($rc, $out, $err) = pitr_tool('backup-pin', 'b1', '--standalone', '--reason', 'first', @s3_args);
is($rc, 0, 'backup-pin b1 --standalone exits 0') or diag($err);
my $b1 = (grep { $_->{label} eq 'b1' } @{ (pitr_list(@s3_args) // {})->{backups} // [] })[0] // {};

# ---- --dry-run: the bucket is unchanged ----
my @before = bucket_keys();
($rc, $out, $err) = pitr_tool('expire', '--retain-full', '1', '--dry-run', @s3_args);
is($rc, 0, 'expire --dry-run exits 0') or diag($err);
is_deeply([ bucket_keys() ], \@before, 'aws: the bucket is unchanged after the dry run');

# ---- the real run ----
($rc, $out, $err) = pitr_tool('expire', '--retain-full', '1', '--parallel', '4', @s3_args);
is($rc, 0, 'expire --retain-full 1 exits 0') or diag($err);
like($out, qr/^  expire  backup b2 /m, 'the plan expires b2');
like($out, qr/^  keep    backup b1 .*\n.*pinned: first \(with its own WAL only\)/m, '... keeps b1 for its pin');
my @after = bucket_keys();
is_deeply([ grep { m{^backup/b2/} } @after ], [], 'aws: no key of b2 is left');
ok((grep { $_ eq 'backup/b1/backup.json' } @after), 'aws: the pinned b1 keeps its manifest');
ok((grep { $_ eq 'backup/b3/backup.json' } @after), 'aws: b3 keeps its manifest');
my @segs = map { name_of($_) } segments_in(@after);
my @kept_before_b3 = grep { $_ lt $first_wal{b3} } @segs;
# b1's own WAL: its start to its stop segment, and the one after, which recovery reads ahead into.
my @b1_wal = grep { $_ ge $b1->{start_wal} && $_ le $b1->{stop_wal} } map { name_of($_) } segments_in(@before);
my ($after_stop) = grep { $_ gt $b1->{stop_wal} } map { name_of($_) } segments_in(@before);
push @b1_wal, $after_stop;
is_deeply(\@kept_before_b3, \@b1_wal, "aws: before b3's first segment only b1's own WAL ($b1->{start_wal} .. $after_stop) is left");
my @from_b3 = grep { $_ ge $first_wal{b3} } map { name_of($_) } segments_in(@before);
is_deeply([ grep { $_ ge $first_wal{b3} } @segs ], \@from_b3, "aws: every segment from $first_wal{b3} on is still there");

# ---- verify reads the whole bucket: what expire left is whole (b1 standalone needs only its own WAL) ----
($rc, $out, $err) = pitr_tool('verify', @s3_args);
is($rc, 0, 'verify of the expired bucket exits 0') or diag($out . $err);
like($out, qr/^verified .*: 2 backups \(\d+ objects\), \d+ WAL objects, .*: no problems$/m,
	'... reading both backups and the WAL, with no problems');

# ---- restore LATEST: every row ----
my $expected = $primary->safe_psql('postgres', 'SELECT count(*) FROM t');
my ($restored, $restore_rc) =
  pitr_restore_node('restored', args => [ @s3_args, '--archive-mode', 'off' ]);
is($restore_rc, 0, 'restore LATEST from the expired bucket exits 0');
$restored->start;
ok($restored->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), '... and recovers');
is($restored->safe_psql('postgres', 'SELECT count(*) FROM t'), $expected, '... to every row');
$restored->stop;

# b1, pinned standalone, restores to its own end.
($restored, $restore_rc) = pitr_restore_node('pinned',
	args => [ 'b1', @s3_args, '--target-immediate', '--target-action', 'promote', '--archive-mode', 'off' ]);
is($restore_rc, 0, 'restore of the pinned b1 exits 0');
$restored->start;
ok($restored->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), '... and recovers with its own WAL');
is($restored->safe_psql('postgres', 'SELECT count(*) FROM t'), '1000', '... to its rows');
$restored->stop;

$primary->stop;
$s3->stop;
done_testing();
