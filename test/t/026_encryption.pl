# Client-side encryption in the age format, end to end on a directory repository: a cluster archives with
# walvault.encryption_recipients set, is backed up with --encryption-recipients, and a restore with
# --encryption-identity-file recovers to a restore point through wal-fetch. Every object in the repository is
# an age file that stock tools read (age -d | zstd), and walvault reads a file the age CLI encrypted. Without
# an identity, or with a damaged object, wal-fetch exits above 125; a server whose encryption disagrees with
# the repository's is refused before it writes anything.
use strict;
use warnings;
use File::Copy ();
use File::Find ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalvaultTest;

my $dir = PostgreSQL::Test::Utils::tempdir;
my $key = "$dir/key.txt";
my $other_key = "$dir/other.txt";
for my $k ($key, $other_key)
{
	system('age-keygen', '-o', $k) == 0 or die "age-keygen -o $k failed";
	chmod(0600, $k);
}
chomp(my $recipient = `age-keygen -y $key`);
like($recipient, qr/^age1[0-9a-z]{58}$/, 'age-keygen made a recipient');

my $repo = "$dir/repo";
my $primary = walvault_node('primary', repo => $repo,
	conf => "walvault.encryption_recipients = '$recipient'\n");
$primary->start;
my @enc = ('--repo', $repo, '--encryption-recipients', $recipient);
my @dec = ('--repo', $repo, '--encryption-identity-file', $key);

# Data before the backup, the backup, data after it, a restore point, then a change past it.
my $query = q{SELECT count(*), sum(g), md5(string_agg(h, '' ORDER BY g)) FROM t};
$primary->safe_psql('postgres', 'CREATE TABLE t AS SELECT g, md5(g::text) AS h FROM generate_series(1, 30000) g');
my $backup = pitr_backup($primary, 'base', @enc);
$primary->safe_psql('postgres', 'INSERT INTO t SELECT g, md5(g::text) FROM generate_series(30001, 50000) g');
my @segments = make_segments($primary, 2, 'hex');
my $expected = $primary->safe_psql('postgres', $query);
$primary->safe_psql('postgres', "SELECT pg_create_restore_point('before_update')");
$primary->safe_psql('postgres', 'UPDATE t SET h = upper(h)');
my $last = switch_wal($primary);
ok(wait_for_done($primary, @segments, $last), 'the primary archived everything it wrote');
my $identity = slurp_file("$repo/identity.json");
like($identity, qr/"encryption": "age"/, 'identity.json records the encryption');
like($identity, qr/"recipients": \[\s*"[0-9a-f]{16}"\s*\]/, "identity.json records the recipient's fingerprint");
unlike($identity, qr/age1/, 'identity.json holds no recipient itself');

# Every object is an age file: zstd refuses it, age -d | zstd -t accepts it.
my @objects;
File::Find::find(sub { push @objects, $File::Find::name if /\.zst(\.\d+)?$/ }, $repo);
cmp_ok(scalar(@objects), '>', ($backup ? $backup->{files} : 0), 'the repository holds WAL and backup objects');
# Over the list in a file, with as few processes as the tools allow (a backup holds ~1000 objects): one zstd -t
# over all of them, which names each file it refuses; one age -d per object, all into one zstd -t (a sequence
# of zstd streams is one), with a line for each object age refuses.
open(my $lf, '>', "$dir/objects.txt") or die;
print $lf map { "$_\n" } @objects;
close($lf);
my $zstd_refused = `xargs -d '\\n' -a '$dir/objects.txt' zstd -q -t 2>&1`;
my @refused = $zstd_refused =~ /^zstd: (.*): /mg;
is(scalar(@refused), scalar(@objects), 'zstd -t refuses every object');
my $unreadable = `{ while read -r f; do age -d -i '$key' "\$f" || echo "age -d failed: \$f" >&2; done < '$dir/objects.txt' | zstd -q -t; } 2>&1`;
is($unreadable, '', 'age -d -i KEY | zstd -t accepts every object');

# The archived segment, decrypted and decompressed with stock tools, is the file in pg_wal.
my $seg_obj = object_path($repo, $segments[0]);
my $pg_wal_file = $primary->data_dir . "/pg_wal/$segments[0]";
system("age -d -i '$key' '$seg_obj' | zstd -q -d -c > '$dir/stock'") == 0 or die;
is(file_sha256("$dir/stock"), file_sha256($pg_wal_file), "age -d | zstd -d gives $segments[0] back");

# wal-fetch: with the identity; without one; with another; a damaged object; an object the age CLI encrypted.
my @cases = (
	[ 'with the identity', [@dec], 0, qr/^$/ ],
	[ 'without an identity', [ '--repo', $repo ], 'fatal', qr/is encrypted and no identity was given/ ],
	[ 'with the identity of another recipient',
		[ '--repo', $repo, '--encryption-identity-file', $other_key ], 'fatal',
		qr/no identity in the identity file matches this encrypted object/ ],
);
for my $case (@cases)
{
	my ($what, $args, $want, $pattern) = @$case;
	unlink "$dir/fetched";
	my ($rc, $out, $err) = pitr_tool('wal-fetch', $segments[0], "$dir/fetched", @$args);
	if ($want eq 'fatal') { cmp_ok($rc, '>', 125, "wal-fetch $what: exit $rc stops recovery") }
	else { is($rc, $want, "wal-fetch $what: exit $want") }
	like($err, $pattern, "wal-fetch $what: its message");
}
my ($rc, $out, $err) = pitr_tool('wal-fetch', $segments[0], "$dir/fetched", @dec);
is(file_sha256("$dir/fetched"), file_sha256($pg_wal_file), "wal-fetch with the identity gives $segments[0]");

# An identity file that others can read is refused, naming the fix.
chmod(0644, $key);
($rc, $out, $err) = pitr_tool('wal-fetch', $segments[0], "$dir/fetched", @dec);
cmp_ok($rc, '>', 125, 'wal-fetch with an identity file readable by others exits above 125');
like($err, qr/identity file "\Q$key\E" is accessible by its group or others.*chmod 600/s,
	'the message names the file and chmod 600');
chmod(0600, $key);

# The identity on standard input.
{
	my $tool = $ENV{WALVAULT_TOOL} // 'walvault';
	local $ENV{WALVAULT_REPO};
	local $ENV{WALVAULT_CONFIG};
	unlink "$dir/fetched";
	IPC::Run::run([ $tool, 'wal-fetch', $segments[0], "$dir/fetched", '--repo', $repo,
			'--encryption-identity-file', '-' ], '<', $key, '>', \$out, '2>', \$err);
	is($? >> 8, 0, 'wal-fetch --encryption-identity-file - reads the identity from standard input');
	is(file_sha256("$dir/fetched"), file_sha256($pg_wal_file), '... and fetches the segment');
}

# walvault verify decrypts and checks every object with the identity; without one it says what it needs.
($rc, $out, $err) = pitr_tool('verify', @dec);
is($rc, 0, 'verify of the encrypted repository with the identity exits 0') or diag($out . $err);
like($out, qr/: no problems$/m, '... with no problems');
($rc, $out, $err) = pitr_tool('verify', '--repo', $repo);
is($rc, 1, 'verify without the identity exits 1');
like($err, qr/the repository is encrypted \(age, identity.json says so\) and no encryption_identity_file is given/,
	'... saying it needs the identity file');

# A flipped byte in an encrypted WAL object.
File::Copy::copy($seg_obj, "$dir/saved") or die;
chmod(0600, $seg_obj);
{
	open(my $fh, '+<', $seg_obj) or die "open $seg_obj: $!";
	binmode $fh;
	seek($fh, 100_000, 0);
	read($fh, my $byte, 1);
	seek($fh, 100_000, 0);
	print $fh chr(ord($byte) ^ 0x01);
	close($fh);
}
($rc, $out, $err) = pitr_tool('wal-fetch', $segments[0], "$dir/fetched", @dec);
cmp_ok($rc, '>', 125, 'wal-fetch of an object with a flipped byte exits above 125');
like($err, qr/age file: chunk 1 fails authentication/, 'the message says which chunk failed');
my $seg_key = substr($seg_obj, length($repo) + 1);
($rc, $out, $err) = pitr_tool('verify', @dec);
is($rc, 1, 'verify finds the flipped byte in the encrypted object');
like($out, qr/^problem: \Q$seg_key\E: .*fails authentication/m, '... naming the object');

# The same segment's plain object, encrypted by the age CLI, in place of walvault's.
system("age -d -i '$key' '$dir/saved' | age -e -r '$recipient' -o '$seg_obj.new'") == 0 or die;
rename("$seg_obj.new", $seg_obj) or die;
($rc, $out, $err) = pitr_tool('wal-fetch', $segments[0], "$dir/fetched", @dec);
is($rc, 0, 'wal-fetch reads an object the age CLI encrypted');
is(file_sha256("$dir/fetched"), file_sha256($pg_wal_file), '... and gives the segment');
($rc, $out, $err) = pitr_tool('verify', @dec);
is($rc, 0, '... and verify accepts it') or diag($out);

# wal-push of a segment that is already archived compares it through the identity, or without one through
# the note in the object's header; without the recipients it must not write into the encrypted repository.
my @push = ('wal-push', '--pgdata', $primary->data_dir, $pg_wal_file);
File::Copy::copy("$dir/saved", $seg_obj) or die;    # walvault's own object again
($rc, $out, $err) = pitr_tool(@push, @enc, '--encryption-identity-file', $key);
is($rc, 0, 'wal-push with the identity: exit 0');
like($out, qr/^\Q$segments[0]\E was already archived, with the same content$/m, '... the same content');
($rc, $out, $err) = pitr_tool(@push, @enc);
is($rc, 0, 'wal-push without an identity: exit 0 too (the note in the age header records the content)');
like($out, qr/^\Q$segments[0]\E was already archived, with the same content$/m, '... the same content');
($rc, $out, $err) = pitr_tool(@push, '--repo', $repo);
isnt($rc, 0, 'wal-push without the recipients fails');
like($err, qr/is encrypted \(age, recipients [0-9a-f]{16}\), but encryption_recipients is empty/,
	'... saying the repository is encrypted');
$primary->stop;

# Restore without an identity fails clearly; with one, recovery reaches the restore point.
my ($noid, $noid_rc, $noid_out, $noid_err) = pitr_restore_node('noid', args => [ '--repo', $repo ]);
isnt($noid_rc, 0, 'restore without an identity fails');
like($noid_err, qr/is encrypted and no identity was given/, 'restore says the objects are encrypted');

my ($restored, $restore_rc) = pitr_restore_node('restored', args => [ @dec, '--target-name', 'before_update', '--target-action', 'promote' ],
	verify => 1, conf => "walvault.encryption_recipients = ''\n");
is($restore_rc, 0, 'walvault restore with the identity exits 0');
my $auto_conf = slurp_file($restored->data_dir . '/postgresql.auto.conf');
like($auto_conf, qr/^restore_command = '.*wal-fetch.*--encryption-identity-file=\Q$key\E.*%f %p'$/m,
	'restore_command passes the identity file to wal-fetch');
unlike($auto_conf, qr/AGE-SECRET-KEY/, 'no key in postgresql.auto.conf');
$restored->start;
ok($restored->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'recovery ended');
is($restored->safe_psql('postgres', $query), $expected, 'the restored cluster has the rows of the restore point');
ok(!$restored->log_contains(qr/walvault wal-fetch:/), 'no wal-fetch error along the way');

# Promoted with encryption off, the server must not write into the encrypted repository.
ok( wait_until(sub { $restored->log_contains(qr/is encrypted \(age, recipients [0-9a-f]{16}\), but encryption_recipients is empty/) }),
	'a server with encryption off is refused on the encrypted repository');
ok(!-e object_path($repo, '00000002.history'), 'it wrote nothing');
set_conf($restored, 'walvault.encryption_recipients' => "'$recipient'");
$restored->reload;
ok(wait_for_done($restored, '00000002.history'), 'with the recipient set, it archives 00000002.history');
system("age -d -i '$key' '" . object_path($repo, '00000002.history') . "' | zstd -q -t") == 0
  or fail('00000002.history is an age file');
$restored->stop;

# And the reverse: an unencrypted repository refuses a server that turns encryption on.
my $plain = walvault_node('plain', repo => "$dir/plainrepo");
$plain->start;
my $first = switch_wal($plain);
ok(wait_for_done($plain, $first), 'an unencrypted repository: archived');
unlike(slurp_file("$dir/plainrepo/identity.json"), qr/encryption/, 'its identity.json has no encryption field');
set_conf($plain, 'walvault.encryption_recipients' => "'$recipient'");
$plain->reload;
my $second = switch_wal($plain);
ok( wait_until(sub { $plain->log_contains(qr/repository "[^"]*plainrepo" is not encrypted, but encryption_recipients is set/) }),
	'a server with encryption on is refused on the unencrypted repository');
ok(!-e object_path("$dir/plainrepo", $second), "it did not archive $second");
$plain->stop('immediate');

done_testing();
