# A repository belongs to one database system. A second cluster (its own initdb, so another system
# identifier) pointed at the first cluster's repository is refused before it writes anything; pointed at
# a repository of its own, it archives normally.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use WalvaultTest;

# ---- the first cluster fills its repository ----
my $first = walvault_node('first');
my $repo = $first->basedir . '/repo';
$first->append_conf('postgresql.conf', "walvault.repo = '$repo'");
$first->start;
my $first_sysid = $first->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
my @first_segments = map { switch_wal($first) } 1 .. 2;
ok(wait_for_done($first, @first_segments), 'first cluster archived ' . join(' ', @first_segments));
# Stopped, so that nothing but the second cluster could change the repository from now on.
$first->stop;

my $identity_text = slurp_file("$repo/identity.json");
is(JSON::PP->new->decode($identity_text)->{system_identifier},
	$first_sysid, 'identity.json names the first cluster');
my @listing_before = repo_listing($repo);

# ---- a second cluster pointed at it ----
my $second = walvault_node('second');
$second->append_conf('postgresql.conf', "walvault.repo = '$repo'");
$second->start;
$second->safe_psql('postgres', 'CREATE EXTENSION walvault');
my $second_sysid = $second->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
isnt($second_sysid, $first_sysid, 'the two clusters have different system identifiers');

my @second_segments = map { switch_wal($second) } 1 .. 2;
my $st = wait_for_status($second, sub { $_[0]{failed_count} > 0 });
ok($st, 'second cluster: archiving fails');
is($st && $st->{archived_count}, 0, 'second cluster: nothing archived');
is($st && $st->{last_failed_wal}, $second_segments[0], "second cluster: last_failed_wal is $second_segments[0]");
like($st && $st->{last_error}, qr/repository "\Q$repo\E" belongs to database system \Q$first_sysid\E\b/,
	'last_error: the repository belongs to the first database system');
like($st && $st->{last_error}, qr/\b\Q$second_sysid\E\b/, 'last_error: names this database system too');
ok($second->log_contains(
		qr/${\ failure_level($second)}:  could not archive "\Q$second_segments[0]\E" to "\Q$repo\E": (?=[^\n]*\b\Q$second_sysid\E\b)[^\n]*belongs to database system \Q$first_sysid\E\b[^\n]*\n[^\n]*HINT:  /),
	'server log: ' . failure_level($second) . ' with both identifiers and a HINT');
ok(wait_until(sub { archiver_stats($second)->{failed_count} > 0 }), 'pg_stat_archiver counts the failure');
is(archiver_stats($second)->{archived_count}, 0, 'pg_stat_archiver: nothing archived');
is_deeply([ ready_files($second) ], [ sort @second_segments ], 'second cluster: its segments stay .ready');

# Give the archiver its retries (PostgreSQL tries each file three times a second apart) before looking.
ok(wait_until(sub { $second->log_contains(qr/failed too many times/) }), 'PostgreSQL gave up for now after retries');
is(slurp_file("$repo/identity.json"), $identity_text, 'identity.json unchanged');
is_deeply([ repo_listing($repo) ], \@listing_before,
	'repository unchanged: nothing of the second cluster in it, no temporary file');
# (Both clusters name their first segments alike: the objects of those names are the first cluster's,
# which the unchanged listing above proves.)

# ---- pointed at its own (new, empty) repository: archives normally ----
my $own_repo = $second->basedir . '/own/repo';
set_conf($second, 'walvault.repo' => "'$own_repo'");
$second->reload;
ok($second->poll_query_until('postgres', 'SHOW walvault.repo', $own_repo), 'walvault.repo changed at reload');
my $more = switch_wal($second);    # also wakes the archiver up
ok(wait_for_done($second, @second_segments, $more), 'second cluster archives into its own repository');
is(walvault_status($second)->{repo}, $own_repo, 'walvault_status: repo is the new one');
my $own_identity = JSON::PP->new->decode(slurp_file("$own_repo/identity.json"));
is($own_identity->{system_identifier}, $second_sysid, 'its identity.json names the second cluster');
check_archived($own_repo, $second, $_) for (@second_segments, $more);
$st = wait_for_status($second, sub { $_[0]{archived_count} >= 3 });
ok($st, 'walvault_status counts the archived files');
is_deeply([ repo_listing($repo) ], \@listing_before, 'first repository still unchanged');

# And the first cluster still archives into its repository.
$first->start;
my $first_more = switch_wal($first);
ok(wait_for_done($first, $first_more), 'first cluster archives again');
check_archived($repo, $first, $first_more);
is(slurp_file("$repo/identity.json"), $identity_text, 'identity.json of the first repository unchanged');

$second->stop;
$first->stop;
done_testing();
