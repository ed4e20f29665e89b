# walvault backup and restore over S3 (s3rver over HTTPS with a self-signed certificate), end to end: a
# cluster archives to s3://walvault/clusters/pitr, is backed up there, writes more, and a new cluster restored
# from the bucket replays the archived WAL and has exactly the primary's data. What is in the bucket is
# checked with the AWS CLI; walvault list --json reads the same bucket.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalvaultTest;
use S3rver;

my $s3 = S3rver->new('https', tls => 1);
$s3->start;
my $prefix = 'clusters/pitr';
my $repo = $s3->repo($prefix);

my $primary = walvault_node('primary');
my $creds = $s3->write_credentials($primary->basedir . '/aws-credentials');
$primary->append_conf('postgresql.conf', $s3->walvault_conf($prefix, $creds));
$primary->start;
my @s3_args = (
	'--repo', $repo, '--s3-endpoint', $s3->endpoint, '--s3-region', $S3rver::REGION,
	'--s3-ca-file', $s3->ca_file, '--s3-credentials-file', $creds);
my $sysid = $primary->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');

# Data before the backup, the backup, then more data only the archived WAL has.
$primary->safe_psql('postgres', 'CREATE TABLE t AS SELECT g, md5(g::text) AS h FROM generate_series(1, 50000) g');
my $backup = pitr_backup($primary, 'base', @s3_args);
is($backup && $backup->{timeline}, 1, 'backup "base" is on timeline 1');
$primary->safe_psql('postgres', 'CREATE DATABASE aa');
$primary->safe_psql('postgres', "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(50001, 80000) g");
my @segments = make_segments($primary, 2, 'hex');
$primary->safe_psql('postgres', 'UPDATE t SET h = upper(h) WHERE g % 7 = 0');
my $last = switch_wal($primary);
ok(wait_for_done($primary, @segments, $last), 'the primary archived everything it wrote');
my $query = q{SELECT count(*), sum(g), md5(string_agg(h, '' ORDER BY g)) FROM t};
my $expected = $primary->safe_psql('postgres', $query);
$primary->stop;    # the restored cluster archives into the same prefix once promoted
# A clean stop switches to a new segment and archives the old one too.
my $newest = (grep { /^[0-9A-F]{24}$/ } done_files($primary))[-1];
cmp_ok($newest, 'ge', $last, "after the stop, the newest archived segment is $newest");

# What the independent client sees in the bucket.
my ($rc, $out) = $s3->aws('s3', 'ls', 's3://' . $s3->bucket . "/$prefix/backup/base/");
is($rc, 0, 'aws s3 ls of backup/base/ works');
like($out, qr/ backup\.json$/m, 'aws s3 ls shows backup/base/backup.json');
my $listing = $s3->list("$prefix/");
ok($listing->{"$prefix/" . object_key($last)}, "aws lists $last at its documented key");
ok($backup && (grep { m{^\Q$prefix\E/backup/base/} && !m{/backup\.json$} } keys %$listing) >= $backup->{files},
	"aws lists at least one object per backed-up file under backup/base/");

# list --json over S3.
my $list = pitr_list(@s3_args);
is($list && $list->{repository}, $repo, 'list: repository is the S3 location');
is($list && $list->{system_identifier}, $sysid, 'list: system_identifier of the primary');
is_deeply([ map { "$_->{label} $_->{status} $_->{files}" } @{ $list ? $list->{backups} : [] } ],
	[ "base complete " . ($backup ? $backup->{files} : '?') ], 'list: backup "base", complete, with its file count');
my ($tl1) = grep { $_->{timeline} == 1 } @{ $list ? $list->{wal} : [] };
is($tl1 && $tl1->{last_segment}, $newest, "list: timeline 1 archived up to $newest");
is_deeply($tl1 && $tl1->{gaps}, [], 'list: no gaps');

# Restore LATEST into a new directory, start, compare.
my ($restored, $restore_rc, $restore_out) = pitr_restore_node('restored', args => [@s3_args], verify => 1);
is($restore_rc, 0, 'walvault restore from S3 exits 0');
like($restore_out, qr/^restored backup "base" into/m, 'restored backup "base"');
my $auto_conf = slurp_file($restored->data_dir . '/postgresql.auto.conf');
like($auto_conf, qr/^restore_command = '.*wal-fetch.*--s3[-_]endpoint=\Q${\ $s3->endpoint }\E.*%f %p'$/m,
	'restore_command fetches from the same endpoint');
unlike($auto_conf, qr/\Q$S3rver::SECRET_KEY\E/, 'no secret key in postgresql.auto.conf');
$restored->start;
ok($restored->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'recovery from the bucket ended');
is($restored->safe_psql('postgres', $query), $expected, "the restored cluster has exactly the primary's rows");
is($restored->safe_psql('postgres', "SELECT count(*) FROM pg_database WHERE datname = 'aa'"), '1',
	'database created after the backup is there');
ok($restored->log_contains(qr/restored log file "\Q$segments[0]\E" from archive/), "$segments[0] came from the bucket");
ok(!$restored->log_contains(qr/walvault wal-fetch:/), 'no wal-fetch error along the way');

# Promoted, it archives its timeline's history file into the same prefix.
ok(wait_for_done($restored, '00000002.history'), 'the restored cluster archived 00000002.history');
ok($s3->head("$prefix/" . object_key('00000002.history')), 'aws finds 00000002.history in the bucket');
$restored->stop;

$s3->stop;
done_testing();
