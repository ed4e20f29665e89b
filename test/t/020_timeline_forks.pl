# A test restore beside a running primary must not fork the production history unnoticed.
#  - A primary on timeline 1 archives into a repository and takes a backup. A copy of it is restored
#    (--archive-mode preserve, the default), recovers to the end of the archive and promotes: as timeline 2 it
#    archives 00000002.history and its own WAL into the same repository. The primary keeps writing.
#  - walvault list shows timeline 2 branched from timeline 1 and marks the fork (text and JSON).
#  - A restore without --target-timeline refuses (PostgreSQL's "latest" would follow the copy's timeline and
#    leave out the primary's later commits), naming both branches and the choices.
#  - --target-timeline 1 --archive-mode off recovers every commit of the primary, none of the copy's, and
#    the promoted result adds nothing to the repository.
use strict;
use warnings;

use File::Find;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalvaultTest;

my $primary = walvault_node('primary');
my $repo = $primary->basedir . '/repo';
set_conf($primary, 'walvault.repo' => "'$repo'");
$primary->start;

my ($rc, $out, $err) = br_backup($primary, $repo, '--label', 'base');
is($rc, 0, 'backup "base" exits 0') or diag($err);
$primary->safe_psql('postgres', 'CREATE TABLE t (i int); INSERT INTO t SELECT generate_series(1, 100)');
my $seg = switch_and_archive($primary);
note("rows 1-100 archived up to $seg");

# ---- a test copy, restored with the defaults, promoted: timeline 2 in the same repository ----
my $copy = PostgreSQL::Test::Cluster->new('copy');
($rc, $out, $err) = br_tool_run('restore', 'LATEST', '--pgdata', $copy->data_dir, '--repo', $repo);
is($rc, 0, 'restore of the test copy exits 0') or diag($err);
like($out, qr/^archiving: as the backup has it \(--archive-mode preserve\)/m,
	'the summary says the copy archives as the backup did');
br_configure_restored($copy);
$copy->start;
ok($copy->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'the copy promoted');
is($copy->safe_psql('postgres', 'SELECT timeline_id FROM pg_control_checkpoint()'), '2', 'the copy is on timeline 2');
$copy->safe_psql('postgres', 'CREATE TABLE copy_only (i int); INSERT INTO copy_only VALUES (1)');
my $copy_seg = switch_and_archive($copy);
ok(-e "$repo/wal/00000002.history.zst", 'the copy archived 00000002.history into the repository');
$copy->stop;

# ---- the primary keeps writing on timeline 1 ----
$primary->safe_psql('postgres', 'INSERT INTO t SELECT generate_series(101, 200)');
switch_and_archive($primary);
$primary->safe_psql('postgres', 'INSERT INTO t SELECT generate_series(201, 300)');
my $last = switch_and_archive($primary);
note("the primary's rows 1-300 archived up to $last");

# ---- list shows the fork ----
($rc, $out, $err) = br_tool_run('list', '--repo', $repo);
is($rc, 0, 'list exits 0') or diag($err);
like($out, qr/^  timeline 1: .* \.\. \Q$last\E \(archived [^)]+\), /m, 'list: timeline 1 ends at the segment archived last, with its time');
like($out, qr/^  timeline 2: .*\n    branched from timeline 1 at [0-9A-F]+\/[0-9A-F]+\n    FORK: timeline 1 went on past that point \(to \Q$last\E\)/m,
	'list: timeline 2 branched from timeline 1, and timeline 1 went on (FORK)');
my $list = br_list_json($repo) // {};
my ($tl1) = grep { $_->{timeline} == 1 } @{ $list->{wal} // [] };
my ($tl2) = grep { $_->{timeline} == 2 } @{ $list->{wal} // [] };
is($tl2 && $tl2->{parent}, 1, 'list --json: timeline 2 has parent 1');
like($tl2 && $tl2->{fork_lsn}, qr/^[0-9A-F]+\/[0-9A-F]+$/, 'list --json: ... and a fork_lsn');
ok($tl2 && $tl2->{parent_continues}, 'list --json: ... and parent_continues is true');
is($tl1 && br_json_type($tl1->{parent}), 'null', 'list --json: timeline 1 has no parent');

# ---- a default restore refuses ----
my $refused = PostgreSQL::Test::Cluster->new('refused');
($rc, $out, $err) = br_tool_run('restore', 'LATEST', '--pgdata', $refused->data_dir, '--repo', $repo);
is($rc, 1, 'a restore without --target-timeline exits 1');
my $when = qr/archived \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/;
like($err, qr/the WAL archived after backup "base" forks into live branches; timeline 2 left timeline 1 at [0-9A-F]+\/[0-9A-F]+ \(its newest segment: 00000002[0-9A-F]{16}, $when\), and timeline 1 went on to \Q$last\E \($when\)/,
	'... naming both branches, where they part, how far each goes and when');
like($err, qr/HINT: .*--target-timeline 1 or --target-timeline 2/, '... and how to choose');
ok(!-e $refused->data_dir . '/global/pg_control', '... and restores nothing');

# ---- --target-timeline 1, --archive-mode off: every commit of the primary, nothing of the copy ----
my @before = repo_files($repo);
my $restored = PostgreSQL::Test::Cluster->new('restored');
($rc, $out, $err) = br_tool_run('restore', 'LATEST', '--pgdata', $restored->data_dir, '--repo', $repo,
	'--target-timeline', '1', '--archive-mode', 'off');
is($rc, 0, 'restore --target-timeline 1 --archive-mode off exits 0') or diag($err);
br_configure_restored($restored);
$restored->start;
ok($restored->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'the restored server promoted');
is($restored->safe_psql('postgres', 'SELECT count(*) || \' \' || max(i) FROM t'), '300 300',
	'it has every row the primary committed (1-300)');
is($restored->safe_psql('postgres', "SELECT to_regclass('copy_only') IS NULL"), 't', 'and nothing of the copy');
$restored->safe_psql('postgres', 'CREATE TABLE after (i int); SELECT pg_switch_wal()');
$restored->safe_psql('postgres', 'CHECKPOINT');
$restored->stop;
is_deeply([ repo_files($repo) ], \@before, '--archive-mode off: the repository is untouched');

$primary->stop;
done_testing();

# Switches to a new segment and waits until the one switched from is archived; returns its name.
sub switch_and_archive
{
	my ($node) = @_;
	my $name = $node->safe_psql('postgres', 'SELECT pg_walfile_name(pg_switch_wal())');
	ok(wait_for_done($node, $name), "$name archived");
	return $name;
}

# Every file under the repository directory, relative to it, sorted.
sub repo_files
{
	my ($dir) = @_;
	my @files;
	find({ wanted => sub { push @files, $File::Find::name =~ s{^\Q$dir\E/}{}r if -f $_ }, no_chdir => 1 }, $dir);
	return sort @files;
}
