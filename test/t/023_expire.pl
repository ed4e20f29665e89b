# Retention on a directory repository: walvault expire, backup-pin, leases of running backups.
#  - Five backups across two timelines: b1-b3 on timeline 1, a promotion (the primary is replaced by a
#    copy restored from the archive), b4 and b5 on timeline 2, with WAL switched between them.
#  - retain_window with backups made to look old (their manifests rewritten): the backup that finished last
#    before the window's start stays, and is still restorable; older ones go.
#  - --dry-run changes nothing and prints the plan that the real run then carries out.
#  - A pinned old backup survives retain_full, and so does its WAL; unpinned, it goes.
#  - retain_full = 2 keeps b4 and b5 and exactly the WAL they need: none of timeline 1, timeline 2 from b4's
#    start segment on, the history file. A PITR between b4 and b5 still works; a PITR to before b4 is
#    refused by restore with a clear message.
#  - expire while a backup is being written (held in pg_backup_start by a spread checkpoint) removes nothing
#    and names the backup; the backup then completes. A backup killed with SIGKILL leaves an incomplete
#    backup that expire removes once its lease is older than lease_timeout.
#  - expire stopped half way through 20,000 objects (a directory it cannot write), then killed with SIGKILL
#    while it removes the rest: list still works, and a rerun finishes the job; restore works after it.
#  - backup-delete refuses the newest complete backup and a pinned one without --force.
#  - backup --expire takes a backup, then expires; without a policy it refuses before it starts.
use strict;
use warnings;

use File::Find;
use File::Path qw(make_path);
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use WalvaultTest;

my $primary = walvault_node('primary');
my $repo = $primary->basedir . '/repo';
set_conf($primary, 'walvault.repo' => "'$repo'");
$primary->start;

sub switch_and_archive
{
	my ($node) = @_;
	my $name = $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_switch_wal())');
	ok(wait_for_done($node, $name), "$name archived");
	return $name;
}

# Every object file under the repository directory, relative to it, sorted (names starting with "." are
# writes in progress, not objects).
sub repo_files
{
	my @files;
	find({ wanted => sub { push @files, $File::Find::name =~ s{^\Q$repo\E/}{}r if -f $_ && !m{/\.[^/]*$} }, no_chdir => 1 }, $repo);
	return sort @files;
}

sub wal_segments
{
	my ($timeline) = @_;
	my $tli = sprintf('%08X', $timeline);
	return map { m{/($tli[0-9A-F]{16})\.zst$} ? ($1) : () } repo_files();
}

sub labels
{
	my $list = br_list_json($repo) // {};
	return join ' ', map { $_->{label} . ($_->{status} eq 'complete' ? '' : '(incomplete)') } @{ $list->{backups} // [] };
}

sub expire
{
	return br_tool_run('expire', '--repo', $repo, @_);
}

my $rows = q{SELECT count(*), max(i) FROM t};
$primary->safe_psql('postgres', 'CREATE TABLE t (i int)');

# ---- five backups over two timelines ----
my %backup;
for my $n (1 .. 3)
{
	my ($from, $to) = (($n - 1) * 100 + 1, $n * 100);
	$primary->safe_psql('postgres', "INSERT INTO t SELECT generate_series($from, $to)");
	switch_and_archive($primary);
	$backup{"b$n"} = pitr_backup($primary, "b$n", '--repo', $repo);
	switch_and_archive($primary);
}
$primary->stop;    # replaced: the copy below takes over, as after a failover

my ($node2, $rc, $out, $err) = pitr_restore_node('node2', args => [ '--repo', $repo ]);
is($rc, 0, 'restore of the new primary exits 0') or diag($err);
$node2->start;
ok($node2->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'the new primary promoted');
is(pitr_timeline($node2), '2', 'the new primary is on timeline 2');
$node2->safe_psql('postgres', 'INSERT INTO t SELECT generate_series(301, 400)');
switch_and_archive($node2);
my $before_b4 = $node2->safe_psql('postgres', 'SELECT now()');
usleep(1_100_000);
$backup{b4} = pitr_backup($node2, 'b4', '--repo', $repo);
$node2->safe_psql('postgres', 'INSERT INTO t SELECT generate_series(401, 500)');
usleep(1_100_000);
my $between = $node2->safe_psql('postgres', 'SELECT now()');
usleep(1_100_000);
switch_and_archive($node2);
$backup{b5} = pitr_backup($node2, 'b5', '--repo', $repo);
$node2->safe_psql('postgres', 'INSERT INTO t SELECT generate_series(501, 600)');
my $newest = switch_and_archive($node2);
is(labels(), 'b1 b2 b3 b4 b5', 'five complete backups');

# ---- no policy: expire refuses and says what to set ----
($rc, $out, $err) = expire();
is($rc, 1, 'expire without a policy exits 1');
like($err, qr/no retention policy is set\nHINT: Set retain_full .* or retain_window/, '... and names the settings');

# ---- retain_window, with b1-b3 made to look 10, 6 and 5 days old ----
sub age_manifest
{
	my ($label, $days) = @_;
	my $path = "$repo/backup/$label/backup.json";
	my $doc = JSON::PP->new->decode(slurp_file($path));
	my @t = gmtime(time - $days * 86400);
	my $stamp = sprintf('%04d-%02d-%02dT%02d:%02d:%02dZ', $t[5] + 1900, $t[4] + 1, @t[ 3, 2, 1, 0 ]);
	$doc->{start_time} = $doc->{stop_time} = $stamp;
	unlink $path or die "$path: $!";
	open my $fh, '>', $path or die "$path: $!";
	print $fh JSON::PP->new->canonical->encode($doc);
	close $fh;
	return;
}
age_manifest('b1', 10);
age_manifest('b2', 6);
age_manifest('b3', 5);
($rc, $out, $err) = expire('--retain-window', '132h');    # 5.5 days
is($rc, 0, 'expire --retain-window 132h exits 0') or diag($err);
like($out, qr/^  expire  backup b1 .*\n.*finished at .*before the window/m, 'the plan expires b1, older than the window');
like($out, qr/^  keep    backup b2 .*\n.*the newest backup that finished before the window's start/m,
	'... keeps b2, the last to finish before the window began');
like($out, qr/^  keep    backup b3 .*\n.*finished within the window/m, '... and b3, inside the window');
is(labels(), 'b2 b3 b4 b5', 'b1 is gone');
my $b2_list = (grep { $_->{label} eq 'b2' } @{ (br_list_json($repo) // {})->{backups} // [] })[0] // {};
is((wal_segments(1))[0], $b2_list->{start_wal}, "timeline 1's WAL now starts at b2's first segment");
my ($restored, $restore_rc) = pitr_restore_node('window_start', args => [ 'b2', '--repo', $repo, '--target-immediate', '--target-action', 'promote', '--archive-mode', 'off' ]);
is($restore_rc, 0, 'b2 (the window start) restores');
$restored->start;
ok($restored->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), '... and recovers');
is($restored->safe_psql('postgres', $rows), '200|200', '... with the rows it had');
$restored->stop;

# ---- --dry-run, a pin, and the plan the real run carries out ----
($rc, $out, $err) = br_tool_run('backup-pin', 'b2', '--repo', $repo, '--reason', 'audit 2026');
is($rc, 0, 'backup-pin b2 exits 0') or diag($err);
like($out, qr/^pinned backup "b2" until unpinned, with the WAL from its start on: audit 2026$/m, '... and says so');
like(slurp_file_list(), qr/PINNED: audit 2026/, 'list shows the pin');
($rc, $out, $err) = br_tool_run('backup-delete', 'b2', '--repo', $repo);
is($rc, 1, 'backup-delete of a pinned backup exits 1');
like($err, qr/backup "b2" is pinned \(audit 2026\)\nHINT: .*--force/, '... naming the pin and --force');
($rc, $out, $err) = br_tool_run('backup-delete', 'b5', '--repo', $repo);
is($rc, 1, 'backup-delete of the newest complete backup exits 1');
like($err, qr/backup "b5" is the newest complete backup/, '... and says why');

my @before = repo_files();
my @after;
my ($dry_rc, $dry_out, $dry_err) = expire('--retain-full', '2', '--dry-run');
is($dry_rc, 0, 'expire --dry-run exits 0') or diag($dry_err);
like($dry_out, qr/^dry run: nothing was removed$/m, '... says it removed nothing');
is_deeply([ repo_files() ], \@before, '... and the repository is unchanged');
like($dry_out, qr/^  keep    backup b2 .*\n.*pinned: audit 2026/m, 'the plan keeps b2 for its pin');
like($dry_out, qr/^  expire  backup b3 /m, '... and expires b3');
($rc, $out, $err) = expire('--retain-full', '2');
is($rc, 0, 'expire --retain-full 2 exits 0') or diag($err);
my ($plan) = $out =~ /\A(.*?^  total: [^\n]*\n)/ms;
my ($dry_plan) = $dry_out =~ /\A(.*?^  total: [^\n]*\n)/ms;
is($plan, $dry_plan, 'the real run prints the plan the dry run printed');
like($out, qr/^expired 1 backups and \d+ WAL objects: \d+ objects, .* removed in [\d.]+ s \(\d+ objects\/s\)$/m,
	'... and what it removed');
is(labels(), 'b2 b4 b5', 'b3 is gone, the pinned b2 stays');
is((wal_segments(1))[0], $b2_list->{start_wal}, "b2's WAL stays from its start");

# ---- unpinned: retain_full = 2 keeps b4, b5 and exactly their WAL ----
($rc, $out, $err) = br_tool_run('backup-unpin', 'b2', '--repo', $repo);
is($rc, 0, 'backup-unpin b2 exits 0') or diag($err);
($rc, $out, $err) = expire('--retain-full', '2');
is($rc, 0, 'expire --retain-full 2 exits 0') or diag($err);
like($out, qr/^  expire  WAL of timeline 1: .*; no kept backup reaches this timeline$/m,
	'the plan removes timeline 1 whole');
is(labels(), 'b4 b5', 'b4 and b5 remain');
my $list = br_list_json($repo) // {};
my ($b4) = grep { $_->{label} eq 'b4' } @{ $list->{backups} // [] };
is_deeply([ wal_segments(1) ], [], 'no WAL of timeline 1 is left');
ok(-e "$repo/wal/00000002.history.zst", '00000002.history stays');
my @tl2 = wal_segments(2);
is($tl2[0], $b4 && $b4->{start_wal}, "timeline 2's WAL starts at b4's first segment");
is($tl2[-1], $newest, "... and goes on to the newest segment, $newest");
my ($tl2_summary) = grep { $_->{timeline} == 2 } @{ $list->{wal} // [] };
is_deeply($tl2_summary && $tl2_summary->{gaps}, [], '... without a gap');

($restored, $restore_rc) = pitr_restore_node('between', args => [ '--repo', $repo, '--target-time', $between, '--target-action', 'promote', '--archive-mode', 'off' ]);
is($restore_rc, 0, "a PITR to $between (between b4 and b5) restores");
$restored->start;
ok($restored->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), '... and recovers');
is($restored->safe_psql('postgres', $rows), '500|500', '... to the rows committed before that time');
$restored->stop;
my ($refused, $refused_rc, $refused_out, $refused_err) =
  pitr_restore_node('too_old', args => [ '--repo', $repo, '--target-time', $before_b4 ]);
is($refused_rc, 1, 'a PITR to before the oldest kept backup is refused');
like($refused_err, qr/no backup finished before the recovery target .* the oldest, "b4"/, '... naming the oldest backup');
ok(!-e $refused->data_dir . '/global/pg_control', '... and restores nothing');

# ---- a backup being written: expire removes nothing while it runs ----
# A backup with --checkpoint spread waits in pg_backup_start for a checkpoint paced over most of an hour
# while shared buffers are dirty; a CHECKPOINT lets it go on at once.
$node2->append_conf('postgresql.conf', "checkpoint_timeout = '1h'\ncheckpoint_completion_target = 0.9\n");
$node2->reload;
sub start_held_backup
{
	my ($label, @extra) = @_;
	$node2->safe_psql('postgres', 'CREATE TABLE IF NOT EXISTS filler (i int); INSERT INTO filler SELECT generate_series(1, 500000)');
	my ($bout, $berr) = ('', '');
	my $h = IPC::Run::start(
		[ $ENV{WALVAULT_TOOL} // 'walvault', 'backup', '--repo', $repo, '--label', $label,
			'--dbname', $node2->connstr('postgres'), '--checkpoint', 'spread', @extra ],
		'<', \undef, '>', \$bout, '2>', \$berr);
	ok(wait_until(sub { scalar grep { m{^backup/\Q$label\E/lease\.} } repo_files() }, 30),
		"backup $label took its lease");
	return ($h, \$bout, \$berr);
}
my ($held, $held_out, $held_err) = start_held_backup('held');
my $held_pid = $held->{KIDS}[0]{PID};
@before = repo_files();
($rc, $out, $err) = expire('--retain-full', '1');
is($rc, 1, 'expire while a backup is being written exits 1');
like($err, qr/nothing was removed: backup "held" is being written on \S+ \(pid $held_pid\)/,
	'... naming the backup and its writer');
my %now_there = map { ($_ => 1) } repo_files();
is_deeply([ grep { !$now_there{$_} && !m{/lease\.} } @before ], [], '... and removes nothing');
$node2->safe_psql('postgres', 'CHECKPOINT');
$held->finish;
is($held->result(0), 0, 'the held backup then completes') or diag($$held_err);
is(labels(), 'b4 b5 held', 'it is listed complete');
is_deeply([ grep { m{/lease\.} } repo_files() ], [], 'its lease is gone');

# ---- a killed backup: removed once its lease is older than lease_timeout ----
my ($killed) = start_held_backup('killed', '--lease-timeout', '6');
kill 'KILL', $killed->{KIDS}[0]{PID};
$killed->finish;
$node2->safe_psql('postgres', 'CHECKPOINT');
is(labels(), 'b4 b5 held killed(incomplete)', 'the killed backup is listed incomplete');
($rc, $out, $err) = expire('--retain-full', '3');
is($rc, 1, 'expire right after the kill exits 1: the lease is still fresh');
like($err, qr/nothing was removed: backup "killed" is being written/, '... and says whose');
sleep 7;
($rc, $out, $err) = expire('--retain-full', '3');
is($rc, 0, 'expire once the lease is older than 6 s exits 0') or diag($err);
like($out, qr/note: breaking the lapsed lease of backup "killed"/, '... saying it broke the lease');
like($out, qr/^  expire  backup killed \(incomplete, .*\n.*its writer on \S+ \(pid \d+\) is gone/m, '... and why the backup goes');
is(labels(), 'b4 b5 held', 'the incomplete backup is gone');
ok(!-e "$repo/backup/killed", '... with its directory');

# ---- expire killed half way through 20,000 objects, then run again ----
# Timeline 1, which no kept backup reaches, gets 20,000 more segments: all of them expire. expire judges WAL
# by its names only, so empty objects will do.
my $count = 20000;
for my $i (0 .. $count - 1)
{
	my $segno = 0x1000 + $i;
	my $dir = sprintf('%s/wal/00000001%08X', $repo, $segno >> 8);
	make_path($dir) unless -d $dir;
	my $name = sprintf('00000001%08X%08X', $segno >> 8, $segno & 0xFF);
	open my $fh, '>', "$dir/$name.zst" or die;
	close $fh;
}
my $total = () = repo_files();

# Stopped half way: the directory of the 10,000th segment cannot be written, so removing it fails there.
my $blocked_dir = sprintf('%s/wal/00000001%08X', $repo, (0x1000 + 10000) >> 8);
chmod 0555, $blocked_dir or die "$blocked_dir: $!";
($rc, $out, $err) = expire('--retain-full', '3');
chmod 0755, $blocked_dir or die "$blocked_dir: $!";
is($rc, 1, 'expire that cannot remove a file exits 1');
like($err, qr/could not remove expired WAL \(run expire again to remove the rest\).*\Q$blocked_dir\E/,
	'... naming what it could not remove and what to do');
my $left = () = repo_files();
note("expire stopped with $left of $total files left");
cmp_ok($left, '<', $total, '... after removing some objects');
cmp_ok($left, '>', $total - $count, '... but not all it meant to');
is(labels(), 'b4 b5 held', 'list after the stop shows the same backups');

# Killed: SIGKILL as soon as it has printed its plan and begun to remove.
my ($eout, $eerr) = ('', '');
my $exp = IPC::Run::start([ $ENV{WALVAULT_TOOL} // 'walvault', 'expire', '--repo', $repo, '--retain-full', '3' ],
	'<', \undef, '>', \$eout, '2>', \$eerr);
$exp->pump until $eout =~ /^  total: /m || !$exp->pumpable;
kill 'KILL', $exp->{KIDS}[0]{PID};
$exp->finish;
$left = () = repo_files();
note("expire killed with $left of $total files left");
is(labels(), 'b4 b5 held', 'list after the kill shows the same backups');
($rc, $out, $err) = expire('--retain-full', '3');
is($rc, 0, 'a rerun exits 0') or diag($err);
is_deeply([ wal_segments(1) ], [], '... and removes the rest');
($restored, $restore_rc) = pitr_restore_node('after_kill', args => [ '--repo', $repo, '--archive-mode', 'off' ]);
is($restore_rc, 0, 'restore LATEST after the interrupted expire');
$restored->start;
ok($restored->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), '... recovers');
is($restored->safe_psql('postgres', $rows), '600|600', '... to every row');
$restored->stop;

# ---- backup --expire: the daily job in one line ----
($rc, $out, $err) = br_backup($node2, $repo, '--label', 'b6', '--expire');
is($rc, 1, 'backup --expire without a policy exits 1');
like($err, qr/--expire needs a retention policy, and none is set/, '... before taking the backup');
is(labels(), 'b4 b5 held', '... and takes none');
($rc, $out, $err) = br_backup($node2, $repo, '--label', 'b6', '--expire', '--retain-full', '2');
is($rc, 0, 'backup --expire --retain-full 2 exits 0') or diag($err);
like($out, qr/^backup "b6" complete: .*\nexpire plan for .*\(retain_full = 2\):\n/m, 'it backs up, then prints the plan');
is(labels(), 'held b6', 'the newest two backups remain');

$node2->stop;
done_testing();

sub slurp_file_list
{
	my ($lrc, $lout) = br_tool_run('list', '--repo', $repo);
	return $lout;
}
