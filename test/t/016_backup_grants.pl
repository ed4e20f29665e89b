# walvault backup as a role with the least it needs (docs/restore.md, "A role for backups"): LOGIN, and
# EXECUTE on pg_backup_start and pg_backup_stop; neither superuser nor pg_read_all_settings. With --pgdata
# it takes a complete backup that restores to the primary's rows; without --pgdata it says to pass it, and
# leaves nothing in the repository.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalvaultTest;

my $node = walvault_node('primary');
my $repo = $node->basedir . '/repo';
set_conf($node, 'walvault.repo' => "'$repo'");
$node->start;

# Exactly the grants docs/restore.md lists.
$node->safe_psql('postgres',
	"CREATE ROLE walvault_backup LOGIN;\n"
	  . "GRANT EXECUTE ON FUNCTION pg_backup_start(text, boolean) TO walvault_backup;\n"
	  . "GRANT EXECUTE ON FUNCTION pg_backup_stop(boolean) TO walvault_backup;");
is( $node->safe_psql(
		'postgres',
		"SELECT rolsuper, rolreplication, pg_has_role('walvault_backup', 'pg_read_all_settings', 'USAGE'), "
		  . "pg_has_role('walvault_backup', 'pg_monitor', 'USAGE') FROM pg_roles WHERE rolname = 'walvault_backup'"),
	'f|f|f|f',
	'walvault_backup: no superuser, no replication, not in pg_read_all_settings or pg_monitor');
# What the role cannot see: the reason --pgdata is needed.
my ($psql_rc, $psql_out, $psql_err) =
  $node->psql('postgres', 'SHOW data_directory', extra_params => [ '-U', 'walvault_backup' ]);
isnt($psql_rc, 0, 'walvault_backup cannot SHOW data_directory');

$node->safe_psql('postgres', 'CREATE TABLE t AS SELECT g, md5(g::text) AS h FROM generate_series(1, 10000) g');
my $query    = q{SELECT count(*), md5(string_agg(h, '' ORDER BY g)) FROM t};
my $expected = $node->safe_psql('postgres', $query);
my $dbname   = $node->connstr('postgres') . ' user=walvault_backup';

# Without --pgdata: refused, naming --pgdata; nothing written.
my ($rc, $out, $err) =
  br_tool_run('backup', '--repo', $repo, '--dbname', $dbname, '--checkpoint', 'fast', '--label', 'nopgdata');
isnt($rc, 0, 'without --pgdata: walvault backup fails');
like($err, qr/does not show its data_directory to this role.*\n.*Pass --pgdata/,
	'without --pgdata: the message says why and the hint names --pgdata');
ok(!-e "$repo/backup/nopgdata", 'without --pgdata: nothing written under backup/nopgdata');

# With --pgdata: a complete backup.
($rc, $out, $err) = br_tool_run('backup', '--repo', $repo, '--dbname', $dbname, '--checkpoint', 'fast',
	'--label', 'minimal', '--pgdata', $node->data_dir);
is($rc, 0, 'with --pgdata: walvault backup as walvault_backup exits 0') or diag($err);
like($out, qr/^backup "minimal" complete: \d+ files/, 'with --pgdata: backup "minimal" complete');
my $list = br_list_json($repo);
is_deeply([ map { "$_->{label} $_->{status}" } @{ $list ? $list->{backups} : [] } ],
	['minimal complete'], 'walvault list: "minimal" complete, and nothing else');

# It restores to the primary's rows.
my $last = switch_wal($node);
ok(wait_for_done($node, $last), "$last archived");
my ($restored, $restore_rc) = pitr_restore_node('restored',
	args => [ '--repo', $repo, 'minimal' ], conf => "archive_mode = off\n", verify => 1);
is($restore_rc, 0, 'walvault restore of "minimal" exits 0');
$restored->start;
ok($restored->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'recovery ended');
is($restored->safe_psql('postgres', $query), $expected, "the restored cluster has the primary's rows");

$restored->stop;
$node->stop;
done_testing();
