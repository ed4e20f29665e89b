# Two walvault backup runs with the same --label, on a directory and on S3 (s3rver, which ignores the
# create-only If-None-Match): started at the same moment (on S3 both are held in the same request until
# they go on together), or the second while the first runs. Exactly one completes; the other exits
# non-zero with a message naming the label. The backup that completed is whole: it restores, every file
# checked, and pg_verifybackup accepts it.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use WalvaultTest;
use S3rver;

my $s3 = S3rver->new('plain');
$s3->start;

my %backends;
{
	my $node = walvault_node('dir_primary');
	my $repo = $node->basedir . '/repo';
	set_conf($node, 'walvault.repo' => "'$repo'");
	$backends{directory} = { node => $node, args => [ '--repo', $repo ] };
}
{
	my $node  = walvault_node('s3_primary');
	my $creds = $s3->write_credentials($node->basedir . '/aws-credentials');
	$node->append_conf('postgresql.conf', $s3->walvault_conf('clusters/same', $creds));
	$backends{s3} = {
		node => $node,
		args => [
			'--repo',      $s3->repo('clusters/same'), '--s3-endpoint',         $s3->endpoint,
			'--s3-region', $S3rver::REGION,            '--s3-credentials-file', $creds
		]
	};
}

# Starts "walvault backup --label LABEL" in the background; returns a handle for finish_backup.
sub start_backup
{
	my ($b, $label) = @_;
	my %run = (out => '', err => '');
	my $tool = $ENV{WALVAULT_TOOL} // 'walvault';
	local $ENV{WALVAULT_REPO};
	local $ENV{WALVAULT_CONFIG};
	$run{h} = IPC::Run::start(
		[
			$tool, 'backup', '--label', $label, '--checkpoint', 'fast',
			'--dbname', $b->{node}->connstr('postgres'), @{ $b->{args} }
		],
		'<', \undef, '>', \$run{out}, '2>', \$run{err});
	return \%run;
}

sub finish_backup
{
	my ($run) = @_;
	$run->{h}->finish;
	$run->{rc} = $? >> 8;
	note("walvault backup: exit $run->{rc}\nstdout: $run->{out}\nstderr: $run->{err}");
	return $run;
}

# Exactly one of the runs completed, the other failed naming the label; the label is listed complete
# and restores.
sub check_one_winner
{
	my ($name, $b, $label, @runs) = @_;
	my @ok     = grep { $_->{rc} == 0 } @runs;
	my @failed = grep { $_->{rc} != 0 } @runs;
	is(scalar(@ok), 1, "$name: exactly one of the two runs exits 0");
	is(scalar(@failed), 1, "$name: the other exits non-zero");
	like($ok[0] && $ok[0]{out}, qr/^backup "\Q$label\E" complete:/, "$name: the winner reports \"$label\" complete");
	like($failed[0] && $failed[0]{err}, qr/backup "\Q$label\E" (is already being taken, or exists|already exists)/,
		"$name: the other's message names the label");
	my $list = pitr_list(@{ $b->{args} });
	is_deeply([ map { "$_->{label} $_->{status}" } grep { $_->{label} eq $label } @{ $list ? $list->{backups} : [] } ],
		["$label complete"], "$name: walvault list shows \"$label\" complete");
	my ($restored, $rc) = pitr_restore_node("restored_${name}_$label",
		args => [ @{ $b->{args} }, $label ], verify => 1);
	is($rc, 0, "$name: walvault restore of \"$label\" exits 0 (every file checked)");
	return;
}

for my $name (sort keys %backends)
{
	my $b    = $backends{$name};
	my $node = $b->{node};
	$node->start;
	$node->safe_psql('postgres',
		'CREATE TABLE t AS SELECT g, md5(g::text) AS h FROM generate_series(1, 200000) g');

	# Both at the same moment. On S3 the store is paused (SIGSTOP) while both start, so that both wait in
	# the same request before they look for the label, and both find it free: the claim decides.
	kill 'STOP', $s3->pid if $name eq 's3';
	my @runs = map { start_backup($b, 'SAME') } 1 .. 2;
	if ($name eq 's3')
	{
		sleep 3;
		kill 'CONT', $s3->pid;
	}
	finish_backup($_) for @runs;
	check_one_winner($name, $b, 'SAME', @runs);

	# The second once the first has claimed the label (walvault list shows it incomplete).
	my $first = start_backup($b, 'LATER');
	my $seen  = wait_until(
		sub {
			my ($rc, $out) = pitr_tool('list', '--json', @{ $b->{args} });
			return $out =~ /"label":\s*"LATER"/ || !$first->{h}->pumpable;
		},
		60);
	ok($seen, "$name: the first run's backup \"LATER\" appears in walvault list");
	my $second = start_backup($b, 'LATER');
	finish_backup($_) for $first, $second;
	check_one_winner($name, $b, 'LATER', $first, $second);
	is($first->{rc}, 0, "$name: the run that claimed \"LATER\" first is the one that completed");

	$node->stop;
}

$s3->stop;
done_testing();
