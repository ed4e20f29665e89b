# walvault backup and restore when something is wrong: each scenario must fail with a non-zero exit
# status and a message naming what is at fault, and leave nothing behind that a server could start on.
# First the commands that must refuse (one table, one loop), then restored clusters whose recovery must
# stop instead of ending early and promoting at the wrong point (another cluster's repository, a hole in
# the archived WAL). Scenarios run against copies of the repository when they damage it.
use strict;
use warnings;

use File::Path qw(rmtree);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::RecursiveCopy;
use PostgreSQL::Test::Utils;
use Test::More;
use WalvaultTest;

my $primary = walvault_node('primary');
my $repo = $primary->basedir . '/repo';
set_conf($primary, 'walvault.repo' => "'$repo'");
$primary->start;
my $sysid = $primary->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
$primary->safe_psql('postgres', 'CREATE TABLE t AS SELECT g, md5(g::text) AS h FROM generate_series(1, 20000) g');
my $relpath = $primary->safe_psql('postgres', "SELECT pg_relation_filepath('t')");

my ($rc, $out, $err) = br_backup($primary, $repo, '--label', 'first');
is($rc, 0, 'backup "first" exits 0') or BAIL_OUT("walvault backup failed: $err");
# WAL after the backup, all archived: recovery from "first" needs every one of these segments.
my @segments = make_segments($primary, 3, 'empty');
push @segments, switch_wal($primary);
ok(wait_for_done($primary, @segments), 'segments after the backup archived: ' . join(' ', @segments));
my ($first) = @{ (br_list_json($repo) // {})->{backups} // [] };
ok($first && $first->{stop_time}, 'list shows backup "first" with its stop time') or BAIL_OUT('no backup listed');

# Another cluster with its own repository.
my $other = walvault_node('other');
my $other_repo = $other->basedir . '/repo';
set_conf($other, 'walvault.repo' => "'$other_repo'");
$other->start;
my $other_sysid = $other->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
isnt($other_sysid, $sysid, 'the two clusters are different database systems');
ok(wait_for_done($other, switch_wal($other)), "the other cluster archived into its own repository");
ok(-f "$other_repo/identity.json", 'the other repository has its identity');

my $tmp = PostgreSQL::Test::Utils::tempdir();

# A copy of the repository with one byte flipped in the middle of the backup's object of table t.
my $bad_repo = "$tmp/bad_repo";
PostgreSQL::Test::RecursiveCopy::copypath($repo, $bad_repo);
my $bad_object = "$bad_repo/backup/first/data/$relpath.zst";
ok(-s $bad_object, "backup object of $relpath exists at backup/first/data/$relpath.zst");
br_flip_byte($bad_object);

# ---- commands that must refuse ----
#   name, prepare (returns a hash for the other subs), args, exit status, stderr pattern, check (after)
my @refusals = (
	{
		name    => 'restore into a non-empty directory',
		prepare => sub {
			my $dir = "$tmp/not_empty";
			mkdir($dir, 0700) or die "mkdir $dir: $!";
			append_to_file("$dir/keep.txt", "precious\n");
			return { pgdata => $dir };
		},
		args   => sub { ('restore', 'LATEST', '--pgdata', $_[0]{pgdata}, '--repo', $repo) },
		status => 1,
		stderr => qr/data directory "\Q$tmp\E\/not_empty" is not empty.*--force/s,
		check  => sub {
			is_deeply([ br_dir_entries($_[0]{pgdata}) ], ['keep.txt'], "$_[1]: nothing written, nothing removed");
		},
	},
	{
		name    => 'the same with --force',
		prepare => sub { return { pgdata => "$tmp/not_empty" }; },
		args    => sub { ('restore', 'LATEST', '--pgdata', $_[0]{pgdata}, '--repo', $repo, '--force') },
		status  => 0,
		check   => sub {
			my $dir = $_[0]{pgdata};
			ok(!-e "$dir/keep.txt" && -f "$dir/global/pg_control" && -f "$dir/recovery.signal",
				"$_[1]: old contents removed, backup restored");
		},
	},
	{
		name    => "restore --force into a directory inside a running server's data directory",
		prepare => sub {
			my $dir = $primary->data_dir . '/restore_here';
			mkdir($dir, 0700) or die "mkdir $dir: $!";
			append_to_file("$dir/keep.txt", "precious\n");
			return { pgdata => $dir };
		},
		args   => sub { ('restore', 'LATEST', '--pgdata', $_[0]{pgdata}, '--repo', $repo, '--force') },
		status => 1,
		stderr => qr/data directory ".*restore_here" lies inside the data directory "\Q${\ $primary->data_dir }\E" of a server that may be running/,
		check  => sub {
			is_deeply([ br_dir_entries($_[0]{pgdata}) ], ['keep.txt'], "$_[1]: nothing written, nothing removed");
			rmtree($_[0]{pgdata});
		},
	},
	{
		name    => "restore --force into a directory that holds a running server's data directory",
		prepare => sub { return { pgdata => $primary->basedir }; },
		args   => sub { ('restore', 'LATEST', '--pgdata', $_[0]{pgdata}, '--repo', $repo, '--force') },
		status => 1,
		stderr => qr/data directory "\Q${\ $primary->basedir }\E" contains the data directory "\Q${\ $primary->data_dir }\E" of a server that may be running/,
		check  => sub {
			ok(-f $primary->data_dir . '/global/pg_control' && -d $primary->data_dir . '/pg_wal',
				"$_[1]: the running server's files are untouched");
			is($primary->safe_psql('postgres', 'SELECT count(*) FROM t'), '20000', "$_[1]: and it still serves its rows");
		},
	},
	{
		name    => 'an unknown label',
		prepare => sub { return { pgdata => "$tmp/unknown_label" }; },
		args    => sub { ('restore', 'no_such_backup', '--pgdata', $_[0]{pgdata}, '--repo', $repo) },
		status  => 1,
		stderr  => qr/backup "no_such_backup" is not in repository "\Q$repo\E".*\bfirst\b/s,
		check   => sub { ok(!-e $_[0]{pgdata}, "$_[1]: target directory not created"); },
	},
	{
		name    => "a target time before the oldest backup's end",
		prepare => sub { return { pgdata => "$tmp/too_early" }; },
		args    => sub {
			('restore', '--target-time', $first->{start_time}, '--pgdata', $_[0]{pgdata}, '--repo', $repo);
		},
		status => 1,
		stderr => qr/no backup finished before the recovery target.*"first"/s,
		check  => sub { ok(!-e $_[0]{pgdata}, "$_[1]: target directory not created"); },
	},
	{
		name    => 'a named backup that ends after the target time',
		prepare => sub { return { pgdata => "$tmp/too_early_named" }; },
		args    => sub {
			('restore', 'first', '--target-time', $first->{start_time}, '--pgdata', $_[0]{pgdata},
				'--repo', $repo);
		},
		status => 1,
		stderr => qr/backup "first" finished at .*after the recovery target/,
		check  => sub { ok(!-e $_[0]{pgdata}, "$_[1]: target directory not created"); },
	},
	{
		name    => "a backup of another cluster into this cluster's repository",
		prepare => sub { return { listing => [ repo_listing($repo) ] }; },
		args    => sub {
			('backup', '--repo', $repo, '--dbname', $other->connstr('postgres'), '--checkpoint', 'fast',
				'--label', 'intruder');
		},
		status => 1,
		stderr => qr/repository "\Q$repo\E" belongs to database system $sysid, not to this one \($other_sysid\)/,
		check  => sub {
			is_deeply([ repo_listing($repo) ], $_[0]{listing}, "$_[1]: nothing written to the repository");
		},
	},
	{
		name    => 'a corrupted backup file',
		prepare => sub { return { pgdata => "$tmp/corrupt" }; },
		args    => sub { ('restore', 'LATEST', '--pgdata', $_[0]{pgdata}, '--repo', $bad_repo) },
		status  => 1,
		stderr  => qr/"\Q$relpath\E"/,
		check   => sub {
			ok(!-e "$_[0]{pgdata}/global/pg_control", "$_[1]: no global/pg_control: no server can start on it");
		},
	},
	{
		name    => 'backup-delete of an unknown label',
		prepare => sub { return { listing => [ repo_listing($repo) ] }; },
		args    => sub { ('backup-delete', 'no_such_backup', '--repo', $repo) },
		status  => 1,
		stderr  => qr/backup "no_such_backup" is not in repository "\Q$repo\E"/,
		check   => sub { is_deeply([ repo_listing($repo) ], $_[0]{listing}, "$_[1]: repository unchanged"); },
	},
);

for my $case (@refusals)
{
	my $what = $case->{name};
	my $ctx  = $case->{prepare}->();
	($rc, $out, $err) = br_tool_run($case->{args}->($ctx));
	is($rc, $case->{status}, "$what: exit status $case->{status}") or diag("stdout: $out\nstderr: $err");
	like($err, $case->{stderr}, "$what: message names what is at fault") if $case->{stderr};
	$case->{check}->($ctx, $what) if $case->{check};
}

# ---- restored clusters whose recovery must stop, not promote ----

# A copy of the repository with a hole: the second segment after the backup is gone, later ones are there.
my $gap_repo = "$tmp/gap_repo";
PostgreSQL::Test::RecursiveCopy::copypath($repo, $gap_repo);
my $missing = $segments[1];
unlink(object_path($gap_repo, $missing)) or die "could not remove the object of $missing: $!";

my @stops = (
	{
		name => "restore_command pointing at another cluster's repository",
		repo => $repo,
		# The restored configuration, edited as a DBA might get it wrong.
		adjust => sub {
			my ($node) = @_;
			my $file = $node->data_dir . '/postgresql.auto.conf';
			my $text = slurp_file($file);
			my $n    = $text =~ s/--repo=\Q$repo\E /--repo=$other_repo /g;
			is($n, 1, "restore_command edited to use $other_repo");
			open(my $fh, '>', $file) or die "could not write $file: $!";
			print $fh $text;
			close($fh);
		},
		log => [
			qr/repository "\Q$other_repo\E" belongs to database system $other_sysid, the data directory being recovered is database system $sysid/
		],
		unexpected => qr/restored log file/,
	},
	{
		name => 'a WAL segment missing in the middle of the archive',
		repo => $gap_repo,
		log  => [
			qr/could not restore file "\Q$missing\E" from archive/,
			qr/"\Q$missing\E" is missing from the repository.*the archive has a gap/,
		],
		# What recovery did get: the segment before the hole.
		expected => qr/restored log file "\Q$segments[0]\E" from archive/,
	},
);

my $i = 0;
for my $case (@stops)
{
	my $what = $case->{name};
	my $node = PostgreSQL::Test::Cluster->new('stops_' . ++$i);
	($rc, $out, $err) =
	  br_tool_run('restore', 'LATEST', '--pgdata', $node->data_dir, '--repo', $case->{repo});
	is($rc, 0, "$what: restore exits 0") or diag($err);
	$case->{adjust}->($node) if $case->{adjust};
	br_configure_restored($node, "archive_mode = off\n");

	# pg_ctl may see the server ready (hot standby, once consistent) before recovery reaches the fault.
	$node->start(fail_ok => 1);
	ok(br_wait_server_gone($node), "$what: the server stops");
	my $log = slurp_file($node->logfile);
	like($log, qr/FATAL:  could not restore file "[^"]+" from archive: child process exited with exit code 200/,
		"$what: recovery stops at wal-fetch's exit code 200");
	like($log, $_, "$what: log says why ($_)") for @{ $case->{log} };
	like($log, $case->{expected}, "$what: log shows what recovery did") if $case->{expected};
	unlike($log, $case->{unexpected}, "$what: no WAL used") if $case->{unexpected};
	unlike($log, qr/archive recovery complete|selected new timeline ID|database system is ready to accept connections/,
		"$what: not promoted");
	ok(-f $node->data_dir . '/recovery.signal', "$what: recovery.signal still there (recovery not finished)");
}

$other->stop;
$primary->stop;
done_testing();
