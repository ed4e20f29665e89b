# wal-fetch as restore_command must never end a recovery early by mistake. PostgreSQL reads exit status 1-125
# as "the archive does not have this file" and ends recovery (promoting, with the default target action);
# above 125 it stops. So wal-fetch exits 1 only when a readable repository does not hold the file, and every
# other failure, a misspelled command line included, exits above 125. A table of invocations with the
# exit status each must give, then one real recovery whose restore_command has a misspelled option: it
# must stop, not promote, and once the option is fixed it recovers every row.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use File::Copy ();
use Test::More;
use WalvaultTest;

my $tool = $ENV{WALVAULT_TOOL} // 'walvault';
my $primary = walvault_node('primary', wal_keep_size => '0');
my $repo = $primary->basedir . '/repo';
set_conf($primary, 'walvault.repo' => "'$repo'");
$primary->start;
$primary->backup('base');

# Rows that only the archive has once the backup is restored.
$primary->safe_psql('postgres', 'CREATE TABLE t AS SELECT g FROM generate_series(1, 20000) g');
my @segments = make_segments($primary, 2, 'empty');
$primary->safe_psql('postgres', 'INSERT INTO t SELECT g FROM generate_series(20001, 30000) g');
my $last = switch_wal($primary);
ok(wait_for_done($primary, @segments, $last), 'the primary archived everything it wrote');
my $expected = $primary->safe_psql('postgres', 'SELECT count(*), sum(g) FROM t');
$primary->stop;

# The segment after the last archived one: what recovery asks for at the normal end of the archive.
my $next = sprintf('%s%08X', substr($last, 0, 16), hex(substr($last, 16, 8)) + 1);
my $dir = PostgreSQL::Test::Utils::tempdir;

# A copy of the repository whose archive goes on two WAL directories later (4 GiB of WAL missing,
# more than a whole directory): the next segment is a hole, not the end of the archive.
my $gappy = "$dir/gappy";
PostgreSQL::Test::RecursiveCopy::copypath($repo, $gappy);
my $beyond = substr($last, 0, 8) . sprintf('%08X', hex(substr($last, 8, 8)) + 2) . '00000003';
{
	my $to = object_path($gappy, $beyond);
	(my $to_dir = $to) =~ s{/[^/]+$}{};
	mkdir $to_dir or die "mkdir $to_dir: $!";
	File::Copy::copy(object_path($repo, $last), $to) or die "copy to $to: $!";
}

# A copy with one damaged object.
my $damaged = "$dir/damaged";
PostgreSQL::Test::RecursiveCopy::copypath($repo, $damaged);
{
	my $obj = object_path($damaged, $segments[0]);
	chmod(0600, $obj);
	open(my $fh, '+<', $obj) or die;
	binmode $fh;
	seek($fh, 100, 0);
	print $fh "\xff\xff\xff\xff";
	close($fh);
}

my $unreadable_conf = "$dir/unreadable.conf";
open(my $cf, '>', $unreadable_conf) or die;
print $cf "repo = '$repo'\n";
close($cf);
chmod(0000, $unreadable_conf);

# An empty HOME, no AWS variables, instance metadata off: no credentials anywhere. Nothing listens on the
# endpoint; walvault must fail before it would connect.
my %no_credentials = (HOME => "$dir/emptyhome", AWS_EC2_METADATA_DISABLED => 'true');
mkdir "$dir/emptyhome";
my $no_port = PostgreSQL::Test::Cluster::get_free_port();

my @cases = (
	# what, arguments after "walvault", extra environment, expected exit status ('fatal' = above 125),
	# pattern the message must match ('' = nothing on stderr)
	[ 'misspelled option', [ 'wal-fetch', '--prefech=4', $segments[0], "$dir/d", '--repo', $repo ], {},
		'fatal', qr/--prefech.*\n.*exiting with status \d+ so that a recovery running this as restore_command stops/s ],
	[ 'misspelled option after the arguments', [ 'wal-fetch', $segments[0], "$dir/d", '--repo', $repo, '--prefech', '4' ],
		{}, 'fatal', qr/--prefech/ ],
	[ 'missing destination', [ 'wal-fetch', $segments[0] ], {}, 'fatal', qr/DEST is required/ ],
	[ 'extra argument', [ 'wal-fetch', $segments[0], "$dir/d", 'extra', '--repo', $repo ], {}, 'fatal', qr/extra/ ],
	[ 'misspelled command', [ 'wal-fech', $segments[0], "$dir/d", '--repo', $repo ], {}, 'fatal', qr/wal-fech/ ],
	[ 'no command', [ $segments[0], "$dir/d" ], {}, 'fatal', qr/not expected/ ],
	[ 'bad repository URL', [ 'wal-fetch', $segments[0], "$dir/d", '--repo', 'ftp://host/bucket' ], {}, 'fatal',
		qr/walvault\.repo must be an absolute directory path or s3:\/\/BUCKET\/PREFIX \(from --repo\)/ ],
	[ 'unreadable config file', [ 'wal-fetch', $segments[0], "$dir/d", '--config', $unreadable_conf ], {}, 'fatal',
		qr/unreadable\.conf/ ],
	[ 'no credentials',
		[ 'wal-fetch', $segments[0], "$dir/d", '--repo', 's3://bucket/prefix',
			'--s3-endpoint', "http://127.0.0.1:$no_port", '--s3-region', 'us-east-1' ],
		\%no_credentials, 'fatal', qr/no AWS credentials found/ ],
	[ 'gap across a WAL directory boundary', [ 'wal-fetch', $next, "$dir/d", '--repo', $gappy ], {}, 'fatal',
		qr/"$next" is missing from the repository, but later WAL that needs it is there \("$beyond"\): the archive has a gap/ ],
	[ 'damaged object', [ 'wal-fetch', $segments[0], "$dir/d", '--repo', $damaged ], {}, 'fatal',
		qr/could not restore "$segments[0]"/ ],
	[ 'really missing: the end of the archive', [ 'wal-fetch', $next, "$dir/d", '--repo', $repo ], {}, 1, '' ],
	[ 'really missing: a timeline history file', [ 'wal-fetch', '00000002.history', "$dir/d", '--repo', $repo ], {},
		1, '' ],
	# Outside restore_command, the conventional usage status.
	[ 'walvault alone', [], {}, 2, qr/Usage|Subcommands/ ],
	[ 'another command with a bad option', [ 'list', '--bogus' ], {}, 2, qr/--bogus/ ],
);
for my $case (@cases)
{
	my ($what, $args, $env, $want, $pattern) = @$case;
	local $ENV{WALVAULT_REPO};
	local $ENV{WALVAULT_CONFIG};
	local @ENV{ grep { /^AWS_/ } keys %ENV };
	local @ENV{ keys %$env } = values %$env;
	my ($stdout, $stderr) = ('', '');
	IPC::Run::run([ $tool, @$args ], '>', \$stdout, '2>', \$stderr);
	my $rc = $? >> 8;
	if ($want eq 'fatal')
	{
		cmp_ok($rc, '>', 125, "$what: exit status $rc stops recovery");
	}
	else
	{
		is($rc, $want, "$what: exit status $want");
	}
	if ($pattern eq '')
	{
		is($stderr, '', "$what: nothing on stderr");
	}
	else
	{
		like($stderr, $pattern, "$what: message");
	}
	ok(!-e "$dir/d" && !-e "$dir/d.walvault-tmp", "$what: nothing written");
}

# A real recovery whose restore_command has a misspelled option. Before, wal-fetch exited 1, PostgreSQL took
# every file for missing, ended recovery at the end of the backup's own WAL and promoted without the rows.
my $restored = PostgreSQL::Test::Cluster->new('restored');
$restored->init_from_backup($primary, 'base');
$restored->append_conf('postgresql.conf', qq(
archive_mode = off
restore_command = '$tool wal-fetch --prefech=4 %f %p --repo $repo'
recovery_target_action = 'promote'
));
$restored->set_recovery_mode;
my $started = $restored->start(fail_ok => 1);
# The server may start and then stop at its first restore_command; wait until it is gone.
my $pidfile = $restored->data_dir . '/postmaster.pid';
for (1 .. 180)
{
	last unless -e $pidfile;
	sleep 1;
}
ok(!-e $pidfile, 'the server with a misspelled restore_command stopped');
$restored->_update_pid(0);
my $log = slurp_file($restored->logfile);
like($log, qr/FATAL:.*could not restore file|FATAL:.*restore_command/,
	'... with a FATAL about restore_command');
like($log, qr/--prefech/, '... and wal-fetch\'s message in the server log names the bad option');
unlike($log, qr/selected new timeline ID|database system is ready to accept connections/,
	'... and it neither promoted nor opened for connections');
ok(!-e $restored->data_dir . '/pg_wal/00000002.history', '... and no new timeline was made');
ok(-e $restored->data_dir . '/recovery.signal', '... and it is still a cluster to recover');

# Fixed, the same data directory recovers everything.
$restored->adjust_conf('postgresql.conf', 'restore_command', "'$tool wal-fetch %f %p --repo $repo'");
$restored->start;
ok($restored->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'with the option fixed, recovery ends');
is($restored->safe_psql('postgres', 'SELECT count(*), sum(g) FROM t'), $expected,
	'... with every row the primary had');
$restored->stop;

done_testing();
