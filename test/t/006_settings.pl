# Settings: bad values are rejected with a detail and a hint, both by ALTER SYSTEM (at once, as an
# error) and at reload (logged by the postmaster), and the old value stays in force. An empty
# walvault.repo means "not configured". The status functions need shared_preload_libraries, and say so.
# Changing settings while files are being archived does not make archiving fail.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use WalvaultTest;

my $node = walvault_node('main');
my $repo = $node->basedir . '/repo';
$node->append_conf('postgresql.conf', "walvault.repo = '$repo'\nwalvault.compression = 'zstd:3'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION walvault');

# Things the settings below point at, in the test's own temporary directory.
my $tmp = PostgreSQL::Test::Utils::tempdir('walvault_settings');
my $regular_file = "$tmp/a-regular-file";
append_to_file($regular_file, "not a directory\n");
my $read_only = "$tmp/read-only";
mkdir($read_only) or die "mkdir $read_only: $!";
chmod(0500, $read_only) or die "chmod $read_only: $!";

my $compression_hint = qr/Use "none", "zstd" or "zstd:LEVEL"/;
my @cases = (
	{
		setting => 'walvault.compression',
		value   => 'lz4',
		detail  => qr/unknown compression "lz4"/,
		hint    => $compression_hint,
	},
	{
		setting => 'walvault.compression',
		value   => 'zstd:99',
		detail  => qr/zstd level must be between 1 and 19/,
		hint    => $compression_hint,
	},
	{
		setting => 'walvault.repo',
		value   => 'relative/dir',
		detail  => qr/walvault\.repo must be an absolute directory path/,
		hint    => qr/Use a path such as "\/var\/lib\/walvault\/main"/,
	},
	{
		setting => 'walvault.repo',
		value   => "$regular_file/repo",
		detail  => qr/"\Q$regular_file\E" is not a directory/,
		hint    => qr/Point walvault\.repo at a directory/,
	},
	{
		setting => 'walvault.repo',
		value   => "$read_only/repo",
		detail  => qr/directory "\Q$read_only\E" is not writable: Permission denied/,
		hint    => qr/Give the operating-system user that runs the server write access/,
	},);

my %good = (
	'walvault.compression' => 'zstd:3',
	'walvault.repo'        => $repo,);

for my $case (@cases)
{
	my ($setting, $value, $detail, $hint) = @{$case}{qw(setting value detail hint)};
	my $label = "$setting = '$value'";

	# ALTER SYSTEM checks the value at once.
	my ($ret, $stdout, $stderr) =
	  $node->psql('postgres', "ALTER SYSTEM SET $setting = '$value'");
	isnt($ret, 0, "$label: ALTER SYSTEM fails");
	like($stderr, qr/ERROR:  invalid value for parameter "\Q$setting\E": "\Q$value\E"/,
		"$label: ALTER SYSTEM error");
	like($stderr, qr/DETAIL:  (?:$detail)/, "$label: ALTER SYSTEM detail");
	like($stderr, qr/HINT:  (?:$hint)/, "$label: ALTER SYSTEM hint");
	unlike(slurp_file($node->data_dir . '/postgresql.auto.conf'),
		qr/\Q$setting\E/, "$label: nothing written to postgresql.auto.conf");

	# The same value in postgresql.conf: the reload logs the rejection and keeps the old value.
	my $offset = -s $node->logfile;
	$node->append_conf('postgresql.conf', "$setting = '$value'");
	$node->reload;
	$node->wait_for_log(qr/contains errors; unaffected changes were applied/, $offset);
	my $log = slurp_file($node->logfile, $offset);
	like(
		$log,
		qr/LOG:  invalid value for parameter "\Q$setting\E": "\Q$value\E"\n[^\n]*DETAIL:  (?:$detail)[^\n]*\n[^\n]*HINT:  (?:$hint)/,
		"$label: reload logs the rejection with detail and hint");
	is($node->safe_psql('postgres', "SHOW $setting"), $good{$setting}, "$label: SHOW keeps the old value");
	is(walvault_status($node)->{repo}, $repo, "$label: walvault_status still shows the old repository");

	# Back to the good value for the next case.
	set_conf($node, $setting => "'$good{$setting}'");
	$node->reload;
}

# The old values are the ones in force: archiving goes on into the repository, with zstd:3.
my $segment = switch_wal($node);
ok(wait_for_done($node, $segment), "$segment archived after the rejected settings");
my $meta = check_archived($repo, $node, $segment);
is($meta && $meta->{compression}, 'zstd:3', 'archived with the compression in force (zstd:3)');
ok(!-e "$regular_file/repo" && !-e "$read_only/repo" && !-e $node->data_dir . '/relative',
	'no repository created at any rejected location');

# ---- walvault.repo = '': not configured; files wait ----
set_conf($node, 'walvault.repo' => "''");
$node->reload;
ok($node->poll_query_until('postgres', 'SHOW walvault.repo', ''), "walvault.repo = '' accepted");
my $offset = -s $node->logfile;
my $waiting = switch_wal($node);
$node->wait_for_log(not_configured_re($node), $offset);
ok($node->log_contains(qr/WARNING:  walvault\.repo is not set\n[^\n]*HINT:  Set walvault\.repo/, $offset),
	'server log: walvault.repo is not set, with a hint');
ok($node->log_contains(qr/WARNING:  archive_mode enabled, yet archiving is not configured/, $offset),
	'server log: PostgreSQL says archiving is not configured');
ok(-e $node->data_dir . "/pg_wal/archive_status/$waiting.ready", "$waiting stays .ready");
my $st = walvault_status($node);
is($st->{repo}, '', 'walvault_status: repo empty');
cmp_ok($st->{pending_count}, '>=', 1, 'walvault_status: pending_count counts it');
is($st->{failed_count}, 0, 'walvault_status: "not configured" is not counted as a failure');

set_conf($node, 'walvault.repo' => "'$repo'");
$node->reload;
ok(wait_for_done($node, $waiting), "$waiting archived once walvault.repo is set again");
check_archived($repo, $node, $waiting);

# ---- a reload while files are being archived must not make archiving fail ----
# At zstd:19, random hex segments take seconds each (random bytes would be stored without trying).
# The archiver works on the first (A) and, ahead of
# PostgreSQL, on the next (B); the new settings apply from the next file PostgreSQL asks for, B.
set_conf($node, 'walvault.compression' => "'zstd:19'");
$node->reload;
ok($node->poll_query_until('postgres', 'SHOW walvault.compression', 'zstd:19'), 'walvault.compression = zstd:19');
my $before = walvault_status($node);
$offset = -s $node->logfile;
my ($seg_a) = make_segments($node, 1, 'hex');
my $temp_a = object_key($seg_a) =~ s{([^/]+)$}{.$1.tmp}r;
ok(wait_until(sub { -e "$repo/$temp_a" }), "archiving of $seg_a under way");
usleep(1_500_000);
my ($seg_b) = make_segments($node, 1, 'hex');
my $temp_b = object_key($seg_b) =~ s{([^/]+)$}{.$1.tmp}r;
my $b_started = wait_until(sub { -e "$repo/$temp_b" }, 10);
ok($b_started, "archiving of $seg_b under way too (ahead of PostgreSQL)");
ok(!-e object_path($repo, $seg_a), "$seg_a not finished yet") if $b_started;
set_conf($node, 'walvault.compression' => "'zstd:1'");
$node->reload;
ok(wait_for_done($node, $seg_a, $seg_b), "$seg_a and $seg_b archived");
$st = walvault_status($node);
is($st->{failed_count}, $before->{failed_count}, 'no archive failure across the reload');
ok(!$node->log_contains(qr/WARNING:  could not archive/, $offset), 'no "could not archive" warning across the reload');
check_archived($repo, $node, $_) for ($seg_a, $seg_b);
my ($seg_c) = make_segments($node, 1, 'random');
ok(wait_for_done($node, $seg_c), "$seg_c archived after the reload");
$meta = check_archived($repo, $node, $seg_c);
is($meta && $meta->{compression}, 'zstd:1', "$seg_c archived with the new compression (zstd:1)");
is_deeply([ repo_temp_files($repo) ], [], 'no temporary file in the repository');

$node->stop;
chmod(0700, $read_only);

# ---- without shared_preload_libraries: the status functions say what to do ----
my $bare = walvault_node('nopreload', preload => 0, repo => $node->basedir . '/repo-nopreload');
$bare->start;
$bare->safe_psql('postgres', 'CREATE EXTENSION walvault');
for my $function ('walvault_status()', 'walvault_reset_status()')
{
	my ($ret, $stdout, $stderr) = $bare->psql('postgres', "SELECT * FROM $function");
	isnt($ret, 0, "without shared_preload_libraries: $function fails");
	like($stderr, qr/ERROR:  walvault must be loaded via shared_preload_libraries/, "$function: error message");
	like($stderr, qr/HINT:  Add walvault to shared_preload_libraries/,
		"$function: hint to add walvault to shared_preload_libraries");
}

# Every GUC comes from the one list of settings: each with its description, as a sentence.
my $rows = $bare->safe_psql('postgres',
	"LOAD 'walvault'; SELECT name || '=' || short_desc FROM pg_settings WHERE name LIKE 'walvault.%' ORDER BY name");
is(scalar(split /\n/, $rows), 15, '15 walvault GUCs');
like($rows, qr/^walvault\.compression=Compression of written objects: "none", "zstd" or "zstd:LEVEL"\.$/m,
	'walvault.compression is described');
is(scalar(grep { !/=[A-Z].*\.$/ } split /\n/, $rows), 0, 'every walvault GUC has a one-sentence description');
$bare->stop;

# The tool's commands list only the settings they read (the same list as the GUCs).
my $tool = $ENV{WALVAULT_TOOL} // 'walvault';
my %help;
for my $command (qw(backup list restore backup-delete wal-fetch))
{
	my ($out, $err) = ('', '');
	IPC::Run::run([ $tool, $command, '--help' ], '>', \$out, '2>', \$err);
	$help{$command} = $out;
}
like($help{$_}, qr/--repo /, "$_ --help lists --repo") for sort keys %help;
like($help{backup}, qr/--compression .*\n(?s:.*)--part_size,--part-size N/, 'backup --help lists compression and part_size');
like($help{backup}, qr/--s3_sse,--s3-sse TEXT/, 'backup --help lists the S3 write settings');
unlike($help{list}, qr/--(compression|parallel|prefetch|part_size|s3_sse)\b/, 'list --help lists none of what it does not read');
unlike($help{'backup-delete'}, qr/--(compression|parallel|prefetch|part_size)\b/, 'backup-delete --help likewise');
like($help{'wal-fetch'}, qr/--prefetch N .*\(default 16, 0-1024\)/, 'wal-fetch --help gives the default and range of --prefetch');
unlike($help{'wal-fetch'}, qr/--(compression|part_size|s3_sse|s3_storage_class)\b/, 'wal-fetch --help omits the write settings');
like($help{restore}, qr/--parallel N .*\(default 2, 1-16\)/, 'restore --help gives the tool default of --parallel');
my ($out, $err) = ('', '');
my $ok = IPC::Run::run([ $tool, 'list', '--compression', 'zstd', '--repo', '/nonexistent' ], '>', \$out, '2>', \$err);
ok(!$ok, 'list refuses --compression, which it does not read');
like($err, qr/--compression/, 'and names the option');

done_testing();
