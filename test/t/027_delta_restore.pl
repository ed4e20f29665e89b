# walvault restore --delta: a stopped primary brought back in place to a point in time of its own backup.
#  - A pgbench (scale 10) primary with a table in a tablespace archives with the module into a directory
#    repository; backup "base"; more transactions; a time T; more transactions; the primary stops.
#  - The same backup restored in full to T (promote) into a fresh directory, the tablespace moved, is the
#    reference: its pg_dumpall (with the tablespace's location written as the primary's),
#    and its backup_manifest, which pg_verifybackup -n accepts.
#  - restore --delta onto a running cluster, or onto a stopped cluster of another database system, is refused
#    with a message naming the cause, and changes nothing.
#  - restore --delta onto the primary, held in the middle (one object of the backup is a FIFO, so the restore
#    waits in open() on it) and killed with SIGKILL, leaves a directory PostgreSQL does not start; run again,
#    it completes: the same backup_manifest as the full restore, accepted by pg_verifybackup -n, and once
#    promoted the same pg_dumpall.
use strict;
use warnings;

use File::Find;
use POSIX qw(mkfifo);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);
use WalvaultTest;

my $primary = walvault_node('primary');
my $repo = $primary->basedir . '/repo';
set_conf($primary, 'walvault.repo' => "'$repo'");
$primary->start;
my @repo_args = ('--repo', $repo);

$primary->command_ok([ 'pgbench', '-i', '-s', '10', '-q', 'postgres' ], 'pgbench -i -s 10');
# A tablespace, whose files the delta restore reaches through its pg_tblspc link.
my $ts = $primary->basedir . '/ts_loc';
mkdir($ts, 0700) or die "mkdir $ts: $!";
$primary->safe_psql('postgres', "CREATE TABLESPACE ts LOCATION '$ts'");
$primary->safe_psql('postgres',
	"CREATE TABLE in_ts (i int, t text) TABLESPACE ts; INSERT INTO in_ts SELECT g, md5(g::text) FROM generate_series(1, 20000) g");
my $branches = $primary->safe_psql('postgres', "SELECT pg_relation_filepath('pgbench_branches')");
my $base = pitr_backup($primary, 'base', @repo_args);
ok($base, 'backup "base" of the pgbench primary');

$primary->command_ok([ 'pgbench', '-n', '-c', '2', '-T', '3', 'postgres' ], 'pgbench transactions after the backup');
$primary->safe_psql('postgres', 'UPDATE in_ts SET t = upper(t) WHERE i % 10 = 0');
my $time = $primary->safe_psql('postgres',
	"SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'");
sleep(0.2);
$primary->safe_psql('postgres', 'CREATE TABLE after_target AS SELECT generate_series(1, 1000) AS i');
$primary->command_ok([ 'pgbench', '-n', '-c', '2', '-T', '2', 'postgres' ], 'pgbench transactions after T');
$primary->safe_psql('postgres', 'DELETE FROM in_ts WHERE i % 3 = 0');
my $last = switch_wal($primary);
ok(wait_for_done($primary, $last), "the primary archived everything up to $last");
$primary->stop;

# Both restores: to T, promoted, writing into no repository (a promoted copy would archive a new timeline).
my @target = ('base', @repo_args, '--target-time', $time, '--target-action', 'promote', '--archive-mode', 'off');

# ---- the reference: a full restore into a fresh directory ----
# The full restore moves the tablespace: the primary's location is in use.
my $full_ts = $primary->basedir . '/ts_full';
my ($full, $rc, $out, $err) =
  pitr_restore_node('full', args => [ @target, '--tablespace-map', "$ts=$full_ts" ], verify => 1);
is($rc, 0, 'full restore to T exits 0') or diag($err);
my $full_manifest = slurp_file($full->data_dir . '/backup_manifest');
$full->start;
ok($full->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'full restore: recovered to T, promoted');
is($full->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname = 'after_target'"),
	'0', 'full restore: stopped before after_target');
is($full->safe_psql('postgres', 'SELECT count(*) FROM in_ts WHERE t = upper(t)'),
	'2000', 'full restore: the tablespace\'s table as at T');
# The same dump wherever the tablespace lies.
(my $full_dump = dumpall($full)) =~ s/\Q$full_ts\E/$ts/g;
$full->stop;

# ---- refused: a running cluster, a cluster of another database system ----
$primary->start;
($rc, $out, $err) = pitr_tool('restore', @target, '--delta', '--pgdata', $primary->data_dir);
isnt($rc, 0, 'restore --delta onto the running primary fails');
like($err, qr/data directory "\Q${\ $primary->data_dir }\E" has a postmaster\.pid: a server may be running in it/,
	'... saying a server may be running');
ok(-e $primary->data_dir . '/global/pg_control' && !-e $primary->data_dir . '/global/pg_control.walvault-delta',
	'... and leaves pg_control in place');
is($primary->safe_psql('postgres', 'SELECT count(*) > 0 FROM after_target'), 't', '... and the primary runs on');
$primary->stop;

my $other = new_node('other');
$other->init;
my $other_sysid = control_sysid($other->data_dir);
my $before = snapshot($other->data_dir);
($rc, $out, $err) = pitr_tool('restore', @target, '--delta', '--pgdata', $other->data_dir);
isnt($rc, 0, 'restore --delta onto a cluster of another database system fails');
like($err,
	qr/data directory "\Q${\ $other->data_dir }\E" belongs to database system $other_sysid, backup "base" is of database system \d+/,
	'... naming both systems');
is_deeply(snapshot($other->data_dir), $before, '... and changes nothing in it');

# ---- interrupted: held on a FIFO in the middle, killed with SIGKILL ----
my ($object) = grep { m{/data/\Q$branches\E\.zst$} } repo_files($repo);
ok(defined $object, "the backup's object of pgbench_branches ($branches)");
$object //= 'missing';
rename($object, "$object.held") or die "rename $object: $!";
mkfifo($object, 0600) or die "mkfifo $object: $!";
my ($hout, $herr) = ('', '');
my $held = IPC::Run::start([ $ENV{WALVAULT_TOOL} // 'walvault', 'restore', @target, '--delta', '--parallel', '2',
		'--pgdata', $primary->data_dir ], '<', \undef, '>', \$hout, '2>', \$herr);
my $pid = $held->{KIDS}[0]{PID};
ok(wait_until(sub { waits_in_open($pid) && do { sleep(0.5); waits_in_open($pid) } }, 120), 'the delta restore reached the held object and waits on it')
  or diag("stderr: $herr");
ok(!-e $primary->data_dir . '/global/pg_control', '... having moved pg_control aside');
ok(-e $primary->data_dir . '/global/pg_control.walvault-delta', '... into global/pg_control.walvault-delta');
ok(kill('KILL', $pid), "delta restore (PID $pid) killed with SIGKILL");
$held->finish;
unlink($object) or die "unlink $object: $!";
rename("$object.held", $object) or die "rename $object.held: $!";
ok(!$primary->start(fail_ok => 1), 'PostgreSQL does not start on the interrupted delta restore');

# ---- run again: completes, the same as the full restore ----
($rc, $out, $err) = pitr_tool('restore', @target, '--delta', '--pgdata', $primary->data_dir);
is($rc, 0, 'restore --delta run again exits 0') or diag($err);
like($out,
	qr/^restored backup "base" into "\Q${\ $primary->data_dir }\E" \(delta\): (\d+) files kept \([^)]+\), (\d+) rewritten \([^)]+ written\), (\d+) removed \([^)]+\), in [\d.]+ s$/m,
	'one summary line: files kept, rewritten and removed');
my ($kept, $rewritten, $removed) = $out =~ /: (\d+) files kept .*?, (\d+) rewritten .*?, (\d+) removed/;
cmp_ok($kept // 0, '>', 0, 'it kept files that matched the backup (' . ($kept // '?') . ')');
cmp_ok($rewritten // 0, '>', 0, 'it rewrote the files that differed (' . ($rewritten // '?') . ')');
# (restore writes the time without trailing zeros in its fraction)
like($out, qr/^recovery: time \Q${\ substr($time, 0, 19) }\E[.\d]*\+00, restore_command = '.*wal-fetch.*%f %p'$/m,
	'recovery settings for T');
ok(!-e $primary->data_dir . '/global/pg_control.walvault-delta', 'the moved-aside pg_control is gone');
verify_restored($primary->data_dir, 'delta restore');
is(slurp_file($primary->data_dir . '/backup_manifest'), $full_manifest,
	"the delta restore's backup_manifest is the full restore's");
$primary->start;
ok($primary->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'delta restore: recovered to T, promoted');
is($primary->safe_psql('postgres', "SELECT pg_tablespace_location(oid) FROM pg_tablespace WHERE spcname = 'ts'"),
	$ts, 'delta restore: the tablespace is where it was');
ok(dumpall($primary) eq $full_dump, 'pg_dumpall after the delta restore is the full restore\'s');
$primary->stop;

done_testing();

# pg_dumpall of every database of the node, with a fixed key for psql's \restrict lines (random otherwise).
sub dumpall
{
	my ($n) = @_;
	my ($stdout, $stderr) =
	  run_command([ 'pg_dumpall', '--restrict-key=walvaulttest', '--dbname', $n->connstr('postgres') ]);
	die "pg_dumpall failed: $stderr" if $stderr =~ /error/i;
	return $stdout;
}

# Every file under dir with its size and modification time, and every directory.
sub snapshot
{
	my ($dir) = @_;
	my %seen;
	find({ wanted => sub { my @st = lstat($_); $seen{$File::Find::name} = -d _ ? 'dir' : "$st[7] $st[9]"; },
			no_chdir => 1 }, $dir);
	return \%seen;
}

sub repo_files
{
	my ($dir) = @_;
	my @files;
	find({ wanted => sub { push @files, $File::Find::name if -f $_ || -p $_ }, no_chdir => 1 }, $dir);
	return @files;
}

# The system identifier in a data directory's global/pg_control.
sub control_sysid
{
	my ($dir) = @_;
	open my $fh, '<:raw', "$dir/global/pg_control" or die "open $dir/global/pg_control: $!";
	read($fh, my $bytes, 8) == 8 or die "short read of $dir/global/pg_control";
	close $fh;
	return unpack('Q<', $bytes);
}

# Whether a thread of process pid sleeps in open()/openat(): the only open that blocks is the one of a FIFO
# that has no writer. /proc/PID/task/TID/syscall starts with the number of the system call a thread is in.
sub waits_in_open
{
	my ($p) = @_;
	for my $task (glob("/proc/$p/task/*"))
	{
		open my $fh, '<', "$task/syscall" or next;
		my $line = <$fh> // '';
		close $fh;
		# x86-64: open is 2, openat 257; aarch64: openat 56.
		return 1 if $line =~ /^(2|257|56) /;
	}
	return 0;
}
