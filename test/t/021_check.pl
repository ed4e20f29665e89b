# walvault check, the monitoring command, as a monitoring system runs it against a live cluster and its
# repository: a healthy repository is OK (exit 0) in all three outputs, and promtool accepts the Prometheus
# metrics; an idle server with nothing waiting stays OK however long ago it last archived; a backup older
# than the interval is WARNING (1), older than twice the interval CRITICAL (2), none CRITICAL; a segment
# deleted from the repository makes wal-continuity CRITICAL; archiving broken by an unwritable repository,
# with WAL waiting as .ready, makes wal-age CRITICAL and archiver WARNING; a role with pg_monitor can run
# every check, one without it gets UNKNOWN with the grant to make; usage errors are UNKNOWN (3).
use strict;
use warnings;

use File::Copy qw(move);
use File::Path qw(make_path);
use IPC::Run;
use JSON::PP;
use POSIX qw(strftime);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalvaultTest;

my $node = walvault_node('primary');
my $repo = $node->basedir . '/repo';
set_conf($node, 'walvault.repo' => "'$repo'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION walvault');
my $connstr = $node->connstr('postgres');

my ($rc, $out, $err) = br_backup($node, $repo);
is($rc, 0, 'walvault backup exits 0') or diag($err);
my ($label) = $out =~ /^backup "([^"]+)" complete/;
$label //= '?';
$node->safe_psql('postgres', 'CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g');
my @after;
push @after, switch_wal($node) for 1 .. 4;
ok(wait_for_done($node, @after), 'the segments after the backup are archived');
ok(wait_for_no_ready($node), 'nothing left to archive');

# walvault check with args; returns (exit status, stdout, stderr).
sub check
{
	return br_tool_run('check', '--repo', $repo, @_);
}

# The state of one check in a --output json document.
sub state_of
{
	my ($doc, $name) = @_;
	my ($c) = grep { $_->{name} eq $name } @{ $doc->{checks} // [] };
	return defined $c ? $c->{state} : 'absent';
}

sub check_json
{
	my ($rc, $out, $err) = check('--output', 'json', @_);
	my $doc = eval { JSON::PP->new->decode($out) };
	diag("check printed no JSON document: $@\n$out\n$err") unless defined $doc;
	return ($rc, $doc // {});
}

# promtool check metrics on a text; returns (exit status, its output).
sub promtool_check
{
	my ($text) = @_;
	my ($pout, $perr) = ('', '');
	IPC::Run::run([ 'promtool', 'check', 'metrics' ], '<', \$text, '>', \$pout, '2>', \$perr);
	return ($? >> 8, $pout . $perr);
}

# ---- 1. a healthy repository: OK in all three outputs ----

($rc, $out, $err) = check('--dbname', $connstr);
is($rc, 0, 'healthy: exit 0') or diag("$out\n$err");
like($out, qr/^WALVAULT OK - backup-age OK: newest backup "\Q$label\E" finished \S+ ago; wal-age OK: no WAL waiting to be archived; wal-continuity OK: no gap from backup "\Q$label\E" \("[0-9A-F]{24}"\) to "\Q$after[-1]\E", \d+ segments; archiver OK: no failure \(walvault_status\(\)\) \| backup_age=\d+s;605100;1209900;0 wal_age=0s;420;840;0 wal_ready=0;;;0 wal_gaps=0;;0;0 archive_failed=0c;;;0 pitr_window=\d+s;;;0\n\z/,
	'healthy: one Nagios line naming the backup and the newest segment, with perfdata');
is($err, '', 'healthy: nothing on stderr');

my $doc;
($rc, $doc) = check_json('--dbname', $connstr);
is($rc, 0, 'healthy json: exit 0');
is($doc->{format}, 1, 'json: format 1');
is($doc->{repository}, $repo, 'json: repository');
is($doc->{state}, 'OK', 'json: state OK');
is($doc->{exit_code}, 0, 'json: exit_code 0');
is_deeply([ map { $_->{name} } @{ $doc->{checks} // [] } ],
	[ 'backup-age', 'wal-age', 'wal-continuity', 'archiver' ], 'json: the four checks in order');
is($doc->{metrics}{wal_gap_count},   0,        'json: no gap');
is($doc->{metrics}{wal_ready_count}, 0,        'json: nothing waiting');
is($doc->{metrics}{wal_age_source},  'server', 'json: wal-age from the server');
is($doc->{thresholds}{wal_warning_seconds}, 420, 'json: wal-age threshold is checkpoint_timeout (5min) + 2min');

($rc, $out, $err) = check('--dbname', $connstr, '--output', 'prometheus');
is($rc, 0, 'healthy prometheus: exit 0');
like($out, qr/^walvault_backup_age_seconds\{repo="\Q$repo\E"\} \d+$/m, 'prometheus: backup age with the repo label');
like($out, qr/^walvault_wal_gaps\{repo="\Q$repo\E"\} 0$/m, 'prometheus: no gap');
like($out, qr/^# TYPE walvault_archive_failed_total counter$/m, 'prometheus: the failure counter is a counter');
my ($prc, $pout) = promtool_check($out);
is($prc, 0, 'promtool check metrics accepts the output') or diag($pout);

# Without --dbname: from the repository alone, and it says so; archiver is not checked.
($rc, $doc) = check_json();
is($rc, 0, 'without --dbname: exit 0');
is(state_of($doc, 'wal-age'), 'OK', 'without --dbname: wal-age OK (the newest segment was just archived)');
like($doc->{checks}[1]{message} // '', qr/a weaker check/, 'without --dbname: wal-age says it is a weaker check');
is(state_of($doc, 'archiver'), 'absent', 'without --dbname: no archiver check');
is($doc->{metrics}{wal_age_source}, 'repository', 'without --dbname: wal-age from the repository');

# ---- 2. an idle server with nothing waiting is OK, however long ago it last archived ----

sleep 3;
($rc, $doc) = check_json('--dbname', $connstr, '--wal-max-age', '1s');
is($rc, 0, 'idle server, --wal-max-age 1s, 3 s after the last archive: exit 0');
is(state_of($doc, 'wal-age'), 'OK', 'idle server: wal-age OK');
is($doc->{checks}[1]{message}, 'no WAL waiting to be archived', 'idle server: nothing waiting');

# ---- 3. a segment deleted from the repository: wal-continuity CRITICAL ----

my $hole = $after[1];
my $hole_path = "$repo/" . object_key($hole);
ok(move($hole_path, "$hole_path.moved"), "segment $hole moved out of the repository");
($rc, $out, $err) = check('--dbname', $connstr);
is($rc, 2, 'deleted segment: exit 2');
like($out, qr/^WALVAULT CRITICAL - .*wal-continuity CRITICAL: 1 gap \(1 segment missing\) after backup "\Q$label\E", the first "\Q$hole\E": recovery stops there;/,
	'deleted segment: wal-continuity CRITICAL names it');
($rc, $out, $err) = check('--dbname', $connstr, '--output', 'prometheus');
like($out, qr/^walvault_wal_gaps\{repo="\Q$repo\E"\} 1$/m, 'deleted segment: walvault_wal_gaps 1');
like($out, qr/^walvault_check_state\{repo="\Q$repo\E",check="wal-continuity"\} 2$/m,
	'deleted segment: walvault_check_state of wal-continuity is 2');
ok(move("$hole_path.moved", $hole_path), 'segment put back');
($rc, $out, $err) = check('--dbname', $connstr);
is($rc, 0, 'segment back: exit 0') or diag($out);

# ---- 4. backup age: old newest backup WARNING, older CRITICAL, none CRITICAL ----

my $manifest = "$repo/backup/$label/backup.json";
my $json = JSON::PP->new->canonical;
my $m = $json->decode(slurp_file($manifest));
ok(move($manifest, "$manifest.moved"), 'the real backup made incomplete (its backup.json moved away)');

# A copy of the manifest under a new label, finished `age` seconds ago.
sub old_backup
{
	my ($new_label, $age) = @_;
	my %copy = %$m;
	$copy{label}      = $new_label;
	$copy{start_time} = strftime('%Y-%m-%dT%H:%M:%SZ', gmtime(time() - $age - 60));
	$copy{stop_time}  = strftime('%Y-%m-%dT%H:%M:%SZ', gmtime(time() - $age));
	make_path("$repo/backup/$new_label");
	open my $fh, '>', "$repo/backup/$new_label/backup.json" or die $!;
	print $fh $json->encode(\%copy);
	close $fh;
	return;
}

($rc, $doc) = check_json('--dbname', $connstr);
is($rc, 2, 'no complete backup: exit 2');
is(state_of($doc, 'backup-age'), 'CRITICAL', 'no complete backup: backup-age CRITICAL');
is($doc->{checks}[0]{message}, 'no complete backup in the repository', 'no complete backup: says so');

# The manifest's stop time is whole seconds before now: the check may run a second or two later ("8d 1s").
old_backup('old8d', 8 * 86400);
($rc, $out, $err) = check('--dbname', $connstr);
is($rc, 1, 'newest backup 8 days old: exit 1');
like($out, qr/^WALVAULT WARNING - backup-age WARNING: newest backup "old8d" finished 8d(?: \d+s)? ago \(warning above 7d 5min\);/,
	'8 days old: backup-age WARNING with the threshold');

old_backup('old15d', 15 * 86400);
rename("$repo/backup/old8d/backup.json", "$repo/backup/old8d/backup.json.moved");
($rc, $out, $err) = check('--dbname', $connstr);
is($rc, 2, 'newest backup 15 days old: exit 2');
like($out, qr/^WALVAULT CRITICAL - backup-age CRITICAL: newest backup "old15d" finished 15d(?: \d+s)? ago \(critical above 14d 5min\);/,
	'15 days old: backup-age CRITICAL');

($rc, $out, $err) = check('--dbname', $connstr, '--backup-interval', '30d');
is($rc, 0, 'with --backup-interval 30d a 15-day-old backup is OK');

unlink("$repo/backup/old15d/backup.json", "$repo/backup/old8d/backup.json.moved");
ok(move("$manifest.moved", $manifest), 'the real backup complete again');
($rc, $out, $err) = check('--dbname', $connstr);
is($rc, 0, 'real backup back: exit 0') or diag($out);

# ---- 5. privileges: pg_monitor is enough; without it, UNKNOWN with the grant to make ----

$node->safe_psql('postgres', "CREATE ROLE monitor LOGIN IN ROLE pg_monitor; CREATE ROLE nobody LOGIN;");
($rc, $doc) = check_json('--dbname', $node->connstr('postgres') . ' user=monitor');
is($rc, 0, 'a pg_monitor member: exit 0');
like($doc->{checks}[3]{message} // '', qr/walvault_status\(\)/, 'a pg_monitor member reads walvault_status()');
($rc, $doc) = check_json('--dbname', $node->connstr('postgres') . ' user=nobody');
is($rc, 3, 'a role without pg_monitor: exit 3');
is(state_of($doc, 'wal-age'), 'UNKNOWN', 'without pg_monitor: wal-age UNKNOWN');
like($doc->{checks}[1]{message} // '', qr/permission denied.*GRANT pg_monitor TO/,
	'without pg_monitor: the message names the grant');
is(state_of($doc, 'archiver'), 'OK', 'without pg_monitor: archiver from pg_stat_archiver');
like($doc->{checks}[3]{message} // '', qr/pg_stat_archiver/, 'without pg_monitor: says pg_stat_archiver');

# ---- 6. archiving broken: the repository unwritable, WAL waiting as .ready ----

my @dirs = ("$repo/wal", glob("$repo/wal/*/"));
chmod 0555, @dirs;
my $stuck = switch_wal($node);
ok(wait_for_status($node, sub { ($_[0]{failed_count} // 0) > 0 }), 'archiving fails');
ok((grep { $_ eq $stuck } ready_files($node)), "$stuck waits as .ready");
sleep 3;
($rc, $doc) = check_json('--dbname', $connstr, '--wal-max-age', '1s');
is($rc, 2, 'archiving broken: exit 2');
is(state_of($doc, 'wal-age'), 'CRITICAL', 'archiving broken: wal-age CRITICAL');
like($doc->{checks}[1]{message} // '', qr/^\d+ WAL files? waiting to be archived, the oldest for \d+s \(critical above 2s\)$/,
	'archiving broken: wal-age says how long the oldest has waited');
is(state_of($doc, 'archiver'), 'WARNING', 'archiving broken: archiver WARNING');
like($doc->{checks}[3]{message} // '', qr/^archiving is failing: \d+ failures?, the last "[0-9A-F]{24}" at .*Permission denied/,
	'archiving broken: archiver names the last error');
ok($doc->{metrics}{archive_failed_total} > 0, 'archiving broken: archive_failed_total counts the failures');
($rc, $out, $err) = check('--dbname', $connstr, '--wal-max-age', '1s', '--output', 'prometheus');
($prc, $pout) = promtool_check($out);
is($prc, 0, 'promtool check metrics accepts the output of a failing check') or diag($pout);

chmod 0755, @dirs;
# After three failures in a row the archiver waits up to a minute; a new segment wakes it at once.
switch_wal($node);
ok(wait_for_no_ready($node), 'archiving resumes once the repository is writable');
($rc, $out, $err) = check('--dbname', $connstr);
is($rc, 0, 'archiving resumed: exit 0') or diag($out);

# ---- 7. usage and settings errors are UNKNOWN ----

($rc, $out, $err) = check('--output', 'xml');
is($rc, 3, 'an unknown --output: exit 3');
($rc, $out, $err) = check('--backup-interval', '5 parsecs');
is($rc, 3, 'a bad duration: exit 3');
like($out, qr/^WALVAULT UNKNOWN - invalid value for --backup-interval: "5 parsecs"/, 'a bad duration: a plugin line');
like($err, qr/HINT: Give a positive duration/, 'a bad duration: a hint');
($rc, $out, $err) = br_tool_run('check');
is($rc, 3, 'no repository: exit 3');
like($err, qr/no repository given/, 'no repository: says so');
($rc, $out, $err) = check('--dbname', 'host=/nonexistent port=1');
is($rc, 3, 'an unreachable server: exit 3');
like($out, qr/wal-age UNKNOWN: could not ask the server/, 'an unreachable server: wal-age UNKNOWN');

$node->stop;
done_testing();
