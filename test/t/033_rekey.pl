# Key rotation on an encrypted directory repository with walvault rekey. A cluster archives to an old
# recipient and is backed up; rekey --dry-run lists every object and writes nothing; rekey records the new
# recipient and re-encrypts every object in place, verified (the old identity no longer opens any of them,
# the new one opens all, with stock tools: age -d | zstd -t). The server, still on the old recipient, archives
# more segments under it until it is reloaded with the new one: one restore, with an identity file holding
# both identities, recovers across objects of both keys. A second rekey re-encrypts only those, leaving a
# damaged one exactly as it was. A restore with the new identity alone, read from standard input, reaches the
# last commit. Also: the archiver, which holds no identity, finds a file it archives again identical by the
# note in the object's header, instead of failing it.
use strict;
use warnings;
use File::Copy ();
use File::Find ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalvaultTest;

my $dir = PostgreSQL::Test::Utils::tempdir;
my %key = (old => "$dir/old.txt", new => "$dir/new.txt");
my %recipient;
for my $k (sort keys %key)
{
	system('age-keygen', '-o', $key{$k}) == 0 or die "age-keygen -o $key{$k} failed";
	chmod(0600, $key{$k});
	chomp($recipient{$k} = `age-keygen -y $key{$k}`);
}
my $both = "$dir/both.txt";
system("cat '$key{old}' '$key{new}' > '$both'") == 0 or die;
chmod(0600, $both);

my $repo = "$dir/repo";
my $primary = walvault_node('primary', repo => $repo,
	conf => "walvault.encryption_recipients = '$recipient{old}'\n");
$primary->start;
my $query = q{SELECT count(*), sum(g), md5(string_agg(h, '' ORDER BY g)) FROM t};
$primary->safe_psql('postgres', 'CREATE TABLE t AS SELECT g, md5(g::text) AS h FROM generate_series(1, 20000) g');
pitr_backup($primary, 'base', '--repo', $repo, '--encryption-recipients', $recipient{old});
my @first = make_segments($primary, 2, 'hex');
my $last = switch_wal($primary);
ok(wait_for_done($primary, @first, $last), 'the primary archived its first segments to the old recipient');

# Every .zst object (WAL and backup data), and which keys open each one, by the stock tools.
sub objects
{
	my @found;
	File::Find::find(sub { push @found, $File::Find::name if /\.zst(\.\d+)?$/ }, $repo);
	return sort @found;
}
sub opened_by
{
	my ($keyfile, @files) = @_;
	open(my $lf, '>', "$dir/list.txt") or die;
	print $lf map { "$_\n" } @files;
	close($lf);
	my $out = `while read -r f; do age -d -i '$keyfile' "\$f" 2>/dev/null | zstd -q -t 2>/dev/null && echo "\$f"; done < '$dir/list.txt'`;
	return grep { $_ ne '' } split /\n/, $out;
}
sub sha_of { return { map { $_ => file_sha256($_) } @_ } }
# The stock tools cost two processes per object, and a backup holds ~1000 small files: they check every WAL
# object and every 50th backup object; walvault verify, with one identity, reads every object.
sub sample { my $i = 0; return grep { m{/wal/} || $i++ % 50 == 0 } @_ }
sub verify_opens
{
	my ($keyfile, $count, $what) = @_;
	my ($rc, $out, $err) = pitr_tool('verify', '--repo', $repo, '--encryption-identity-file', $keyfile);
	my @refused = $out =~ /^problem: (\S+): .*no identity in the identity file matches/mg;
	if ($count) { is($rc, 0, "verify with $what: every object opens and checks") or diag($out . $err) }
	else { is(scalar(@refused), scalar(@{ [ objects() ] }), "verify with $what: no object opens") or diag($out) }
}

# The archiver archives a file again (its .done turned back into .ready, as after a crash between the upload
# and PostgreSQL's bookkeeping): without an identity, the note in the object's header says it is the same.
my $status = $primary->data_dir . '/pg_wal/archive_status';
my $again = $last;
ok(-e $primary->data_dir . "/pg_wal/$again", "$again is still in pg_wal");
rename("$status/$again.done", "$status/$again.ready") or die "rename: $!";
my $obj_before = file_sha256(object_path($repo, $again));
my $next = switch_wal($primary);    # wakes the archiver, which finds both
ok(wait_for_done($primary, $again, $next), "the archiver archives $again again, without an identity");
is(file_sha256(object_path($repo, $again)), $obj_before, '... leaving the archived object as it was');
ok(!$primary->log_contains(qr/holds no identity to compare|already archived with different content/),
	'... with no conflict in the server log');

my @before = objects();
cmp_ok(scalar(@before), '>=', 4, 'the repository holds backup and WAL objects');
is(scalar(opened_by($key{old}, sample(@before))), scalar(sample(@before)), 'the old identity opens the objects (age -d | zstd -t)');
my $identity_before = slurp_file("$repo/identity.json");

# --dry-run: lists every object, needs no identity, writes nothing.
my @rekey = ('rekey', '--repo', $repo, '--encryption-recipients', $recipient{new});
my $sums = sha_of(@before);
my ($rc, $out, $err) = pitr_tool(@rekey, '--dry-run');
is($rc, 0, 'rekey --dry-run exits 0') or diag($err);
like($out, qr/^would record the recipients [0-9a-f]{16} in "[^"]*identity.json" \(they are [0-9a-f]{16}\)$/m,
	'... saying it would record the new recipient');
my @listed = $out =~ /^(\S+): readable only by [0-9a-f]{16}$/mg;
is(scalar(@listed), scalar(@before), '... and listing every object as readable only by the old one');
like($out, qr/^\d+ of \d+ objects \(.*\) would be re-encrypted for the recipients [0-9a-f]{16}$/m, '... with a summary');
is_deeply(sha_of(@before), $sums, 'rekey --dry-run changed no object');
is(slurp_file("$repo/identity.json"), $identity_before, '... nor identity.json');

# Without the identity it cannot decrypt: refused before it writes anything.
($rc, $out, $err) = pitr_tool(@rekey);
is($rc, 1, 'rekey without an identity exits 1');
like($err, qr/rekey needs encryption_identity_file/, '... saying it needs the identity file');
is(slurp_file("$repo/identity.json"), $identity_before, '... and writes nothing');

# rekey: records the new recipient, re-encrypts every object.
($rc, $out, $err) = pitr_tool(@rekey, '--encryption-identity-file', $key{old});
is($rc, 0, 'rekey with the old identity exits 0') or diag($out . $err);
like($out, qr/^recorded the recipients [0-9a-f]{16} in .*identity.json/m, '... recording the new recipient');
like($out, qr/^re-encrypted (\d+) of \1 objects/m, '... and re-encrypting every object');
unlike(slurp_file("$repo/identity.json"), qr/\Q$identity_before\E/, 'identity.json changed');
is_deeply([ objects() ], \@before, 'the same objects are there');
is(scalar(opened_by($key{new}, sample(@before))), scalar(sample(@before)), 'the new identity opens the objects (age -d | zstd -t)');
is(scalar(opened_by($key{old}, sample(@before))), 0, 'the old identity opens none of them');
verify_opens($key{new}, 1, 'the new identity');
verify_opens($key{old}, 0, 'the old identity');

# The server still encrypts to the old recipient until it is reloaded: objects of both keys.
my @middle = make_segments($primary, 2, 'hex');
ok(wait_for_done($primary, @middle), 'the server, not yet reloaded, archives two more segments');
set_conf($primary, 'walvault.encryption_recipients' => "'$recipient{new}'");
$primary->reload;
$primary->safe_psql('postgres', 'INSERT INTO t SELECT g, md5(g::text) FROM generate_series(20001, 30000) g');
my @after = make_segments($primary, 1, 'hex');
my $end = switch_wal($primary);
ok(wait_for_done($primary, @after, $end), 'reloaded with the new recipient, it archives on');
my $expected = $primary->safe_psql('postgres', $query);
$primary->stop;
my @middle_objects = map { object_path($repo, $_) } @middle;
is(scalar(opened_by($key{old}, @middle_objects)), 2, 'the segments archived before the reload are under the old key');
is(scalar(opened_by($key{new}, map { object_path($repo, $_) } @after, $end)), 2, 'those after it under the new');

# One restore across objects of both keys, with an identity file holding both.
my ($across, $across_rc) = pitr_restore_node('across', args => [ '--repo', $repo, '--encryption-identity-file', $both ],
	conf => "archive_mode = off\n");
is($across_rc, 0, 'restore with both identities exits 0');
$across->start;
ok($across->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'recovery across both keys ended');
is($across->safe_psql('postgres', $query), $expected, 'the restored cluster has the last commit');
$across->stop;

# rekey --dry-run lists just the stragglers; a damaged one makes rekey fail for it alone, leaving it as it was.
($rc, $out, $err) = pitr_tool(@rekey, '--dry-run');
my @stragglers = sort($out =~ /^(\S+): readable only by [0-9a-f]{16}$/mg);
my @middle_keys = sort map { substr($_, length($repo) + 1) } @middle_objects;
is_deeply(\@stragglers, \@middle_keys, 'rekey --dry-run lists exactly the segments archived under the old key');
my $damaged = $middle_objects[0];
File::Copy::copy($damaged, "$dir/saved") or die;
chmod(0600, $damaged);
br_flip_byte($damaged, 200_000);
my $damaged_sum = file_sha256($damaged);
($rc, $out, $err) = pitr_tool(@rekey, '--encryption-identity-file', $key{old});
is($rc, 1, 'rekey with a damaged object exits 1');
like($out, qr/^could not re-encrypt: object "\Q$damaged\E": .*fails authentication/m, '... naming the object');
is(file_sha256($damaged), $damaged_sum, '... which is left exactly as it was');
is(scalar(opened_by($key{new}, $middle_objects[1])), 1, 'the other straggler is re-encrypted');
File::Copy::copy("$dir/saved", $damaged) or die;
($rc, $out, $err) = pitr_tool(@rekey, '--encryption-identity-file', $key{old});
is($rc, 0, 'rekey again exits 0');
like($out, qr/^re-encrypted 1 of \d+ objects/m, '... re-encrypting only the one left');
($rc, $out, $err) = pitr_tool(@rekey, '--dry-run');
like($out, qr/^0 of \d+ objects \(.*\) would be re-encrypted/m, 'rekey --dry-run finds nothing left');
my @all = objects();
is(scalar(opened_by($key{new}, sample(@all))), scalar(sample(@all)), 'the new identity opens the objects (age -d | zstd -t)');
is(scalar(opened_by($key{old}, sample(@all))), 0, 'the old identity opens none of them');
verify_opens($key{new}, 1, 'the new identity');
verify_opens($key{old}, 0, 'the old identity');

# A flipped byte in an encrypted backup object: restore refuses it, naming the object, and writes no
# recovery configuration.
my ($data_obj) = grep { m{/backup/base/data/} && -s $_ > 20_000 } @all;
File::Copy::copy($data_obj, "$dir/saved_data") or die;
chmod(0600, $data_obj);
br_flip_byte($data_obj, 10_000);
my ($flipped, $flipped_rc, $flipped_out, $flipped_err) =
  pitr_restore_node('flipped', args => [ '--repo', $repo, '--encryption-identity-file', $key{new} ]);
isnt($flipped_rc, 0, 'restore of a backup with a flipped byte in an encrypted object fails');
like($flipped_err, qr/\Q$data_obj\E.*fails authentication/, '... naming the object');
ok(!-e $flipped->data_dir . '/recovery.signal', '... and leaves no recovery.signal');
File::Copy::copy("$dir/saved_data", $data_obj) or die;

# A restore with the new identity alone, from standard input (a KMS-wrapped key never on disk):
# restore_command is then the operator's, piping the identity to wal-fetch.
my $stdin_node = new_node('stdin');
{
	my $tool = $ENV{WALVAULT_TOOL} // 'walvault';
	local $ENV{WALVAULT_REPO};
	local $ENV{WALVAULT_CONFIG};
	IPC::Run::run([ $tool, 'restore', '--repo', $repo, '--encryption-identity-file', '-',
			'--pgdata', $stdin_node->data_dir ], '<', $key{new}, '>', \$out, '2>', \$err);
	is($? >> 8, 0, 'restore --encryption-identity-file - exits 0') or diag($err);
}
my $auto = slurp_file($stdin_node->data_dir . '/postgresql.auto.conf');
unlike($auto, qr/encryption-identity-file/, 'with "-", restore_command names no identity file');
my $tool = $ENV{WALVAULT_TOOL} // 'walvault';
$stdin_node->append_conf('postgresql.conf',
	"port = " . $stdin_node->port . "\nunix_socket_directories = '" . $stdin_node->host . "'\narchive_mode = off\n");
# postgresql.auto.conf is read last: the operator's restore_command goes there, after restore's.
$stdin_node->append_conf('postgresql.auto.conf',
	"restore_command = '$tool wal-fetch --repo $repo --encryption-identity-file - %f %p < $key{new}'\n");
$stdin_node->start;
ok($stdin_node->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'recovery with the piped identity ended');
is($stdin_node->safe_psql('postgres', $query), $expected, '... with the last commit');

# restore --force over it, after a crash: what only its pg_wal holds (timeline 2, not archived here) goes into
# the encrypted repository first, encrypted; without the recipients restore refuses and removes nothing.
$stdin_node->safe_psql('postgres', 'INSERT INTO t VALUES (0, \'after promotion\')');
$stdin_node->stop('immediate');
my @force = ('restore', '--repo', $repo, '--pgdata', $stdin_node->data_dir, '--force',
	'--encryption-identity-file', $key{new});
($rc, $out, $err) = pitr_tool(@force);
isnt($rc, 0, 'restore --force into the encrypted repository without the recipients fails');
like($err, qr/nothing was removed: .*encrypt/, '... removing nothing');
ok(-e $stdin_node->data_dir . '/global/pg_control', '... the data directory is still there');
($rc, $out, $err) = pitr_tool(@force, '--encryption-recipients', $recipient{new});
is($rc, 0, 'restore --force with the recipients exits 0') or diag($err);
like($out, qr/^archived from the old pg_wal before replacing it: \d+ files the repository lacked .*the segment in progress as (\S+\.partial)$/m,
	'... after archiving the old pg_wal, the segment in progress as a .partial');
my ($partial) = $out =~ /the segment in progress as (\S+\.partial)$/m;
my @saved = (object_path($repo, '00000002.history'), object_path($repo, $partial // 'none'));
is(scalar(opened_by($key{new}, @saved)), 2, 'the history file and the partial are age files for the new recipient');

# Usage errors: an unencrypted repository, no recipients.
my $plain = walvault_node('plain', repo => "$dir/plainrepo");
$plain->start;
ok(wait_for_done($plain, switch_wal($plain)), 'an unencrypted repository');
$plain->stop;
($rc, $out, $err) = pitr_tool('rekey', '--repo', "$dir/plainrepo", '--encryption-recipients', $recipient{new},
	'--dry-run');
is($rc, 1, 'rekey of an unencrypted repository exits 1');
like($err, qr/repository "[^"]*plainrepo" is not encrypted/, '... saying so');
($rc, $out, $err) = pitr_tool('rekey', '--repo', $repo, '--dry-run');
is($rc, 1, 'rekey without recipients exits 1');
like($err, qr/encryption_recipients is empty/, '... naming the setting');

done_testing();
