# Client-side encryption on S3 (s3rver): a cluster archives and is backed up into s3://walvault/clusters/enc
# with encryption_recipients set; the objects the AWS CLI downloads from the bucket are age files (every one
# begins with the age header; the WAL objects pass age -d | zstd -t), and a restore from the bucket with
# --encryption-identity-file recovers every row through wal-fetch.
use strict;
use warnings;
use File::Find ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalvaultTest;
use S3rver;

my $dir = PostgreSQL::Test::Utils::tempdir;
my $key = "$dir/key.txt";
system('age-keygen', '-o', $key) == 0 or die "age-keygen -o $key failed";
chmod(0600, $key);
chomp(my $recipient = `age-keygen -y $key`);

my $s3 = S3rver->new('enc');
$s3->start;
my $prefix = 'clusters/enc';
my $repo = $s3->repo($prefix);
my $primary = walvault_node('primary');
my $creds = $s3->write_credentials($primary->basedir . '/aws-credentials');
$primary->append_conf('postgresql.conf',
	$s3->walvault_conf($prefix, $creds) . "walvault.encryption_recipients = '$recipient'\n");
$primary->start;
my @s3_args = (
	'--repo', $repo, '--s3-endpoint', $s3->endpoint, '--s3-region', $S3rver::REGION,
	'--s3-credentials-file', $creds);

my $query = q{SELECT count(*), sum(g) FROM t};
$primary->safe_psql('postgres', 'CREATE TABLE t AS SELECT g FROM generate_series(1, 20000) g');
pitr_backup($primary, 'base', @s3_args, '--encryption-recipients', $recipient);
$primary->safe_psql('postgres', 'INSERT INTO t SELECT g FROM generate_series(20001, 40000) g');
my @segments = make_segments($primary, 1, 'hex');
my $last = switch_wal($primary);
ok(wait_for_done($primary, @segments, $last), 'the primary archived everything it wrote');
my $expected = $primary->safe_psql('postgres', $query);
$primary->stop;

# What the AWS CLI downloads from the bucket.
ok($s3->download_prefix($prefix, "$dir/copy"), 'aws s3 cp --recursive downloads the repository');
like(slurp_file("$dir/copy/identity.json"), qr/"encryption": "age"/, 'identity.json in the bucket records it');
my (@objects, @wal);
File::Find::find(sub { push @objects, $File::Find::name if /\.zst(\.\d+)?$/ }, "$dir/copy");
@wal = grep { m{/wal/} } @objects;
cmp_ok(scalar(@wal), '>=', 2, 'the bucket holds WAL objects');
cmp_ok(scalar(@objects) - scalar(@wal), '>', 100, 'and backup objects');
my @not_age = grep {
	open(my $fh, '<', $_) or die "open $_: $!";
	binmode $fh;
	read($fh, my $head, 22);
	close($fh);
	$head ne "age-encryption.org/v1\n"
} @objects;
is_deeply(\@not_age, [], 'every object in the bucket begins with the age header');
open(my $lf, '>', "$dir/wal.txt") or die;
print $lf map { "$_\n" } @wal;
close($lf);
is(`while read -r f; do age -d -i '$key' "\$f" | zstd -q -t 2>/dev/null || echo "\$f"; done < '$dir/wal.txt'`,
	'', 'age -d -i KEY | zstd -t accepts every WAL object');

# Restore from the bucket with the identity.
my ($restored, $rc) = pitr_restore_node('restored',
	args => [ @s3_args, '--encryption-identity-file', $key ], conf => "archive_mode = off\n");
is($rc, 0, 'walvault restore from the bucket with the identity exits 0');
like(slurp_file($restored->data_dir . '/postgresql.auto.conf'),
	qr/^restore_command = '.*wal-fetch.*--encryption-identity-file=\Q$key\E.*%f %p'$/m,
	'restore_command passes the identity file to wal-fetch');
$restored->start;
ok($restored->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'recovery from the bucket ended');
is($restored->safe_psql('postgres', $query), $expected, "the restored cluster has exactly the primary's rows");
ok($restored->log_contains(qr/restored log file "\Q$segments[0]\E" from archive/), "$segments[0] came from the bucket");
ok(!$restored->log_contains(qr/walvault wal-fetch:/), 'no wal-fetch error along the way');
$restored->stop;

# walvault rekey in the bucket: every object re-encrypted for a new recipient (replaced in place by a PUT with
# Content-MD5); the new identity alone opens them all, the old one none.
my $new_key = "$dir/new.txt";
system('age-keygen', '-o', $new_key) == 0 or die "age-keygen -o $new_key failed";
chmod(0600, $new_key);
chomp(my $new_recipient = `age-keygen -y $new_key`);
my ($krc, $kout, $kerr) = pitr_tool('rekey', @s3_args, '--encryption-recipients', $new_recipient,
	'--encryption-identity-file', $key);
is($krc, 0, 'rekey in the bucket exits 0') or diag($kout . $kerr);
like($kout, qr/^re-encrypted (\d+) of \1 objects/m, '... re-encrypting every object');
($krc, $kout, $kerr) = pitr_tool('verify', @s3_args, '--encryption-identity-file', $new_key);
is($krc, 0, 'verify with the new identity: every object in the bucket opens and checks') or diag($kout . $kerr);
($krc, $kout, $kerr) = pitr_tool('verify', @s3_args, '--encryption-identity-file', $key);
my @refused = $kout =~ /^problem: (\S+): .*no identity in the identity file matches/mg;
is(scalar(@refused), scalar(@objects), 'verify with the old identity: no object opens');
ok($s3->download_prefix($prefix, "$dir/rekeyed"), 'aws s3 cp downloads the rekeyed repository');
my @rekeyed_wal;
File::Find::find(sub { push @rekeyed_wal, $File::Find::name if /\.zst$/ && $File::Find::dir =~ m{/wal} },
	"$dir/rekeyed");
open($lf, '>', "$dir/wal2.txt") or die;
print $lf map { "$_\n" } @rekeyed_wal;
close($lf);
is(`while read -r f; do age -d -i '$new_key' "\$f" | zstd -q -t 2>/dev/null || echo "\$f"; done < '$dir/wal2.txt'`,
	'', 'age -d -i NEWKEY | zstd -t accepts every WAL object the AWS CLI downloads');

$s3->stop;
done_testing();
