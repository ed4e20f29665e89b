# The systemd units of systemd/, as make install writes them (TEST_OUT/src/systemd): systemd-analyze verify
# accepts each, instantiated for a config file named "main", with no warning; the services run the installed
# tool as documented in docs/operations.md, as postgres, once per start; the timers run daily, catch up
# on a run missed while the machine was off and spread their start over an hour; the sandbox scores as
# systemd's "OK" exposure. The same check fails for a unit whose ExecStart names no program, so a pass
# means something. Then the services' command lines, run as the units run them against a cluster (the
# config file in a test directory instead of /etc/walvault, libpq's variables as /etc/walvault/main.env
# would set them): each backup is followed by an expire to the file's retain_full, and the expire
# service's command applies a lower one.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use File::Copy ();
use Test::More;
use WalvaultTest;

my $tool  = $ENV{WALVAULT_TOOL} // 'walvault';
my $units = '../systemd';                     # TEST_OUT/src/systemd; the tests run in TEST_OUT/src/test
my $dir   = PostgreSQL::Test::Utils::tempdir();
my @names = ('walvault-backup@.service', 'walvault-backup@.timer', 'walvault-expire@.service',
	'walvault-expire@.timer', 'walvault-receive@.service');

# systemd-analyze with its output; (exit status, stdout, stderr).
sub analyze
{
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'systemd-analyze', @_ ], '<', \undef, '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

# NAME=VALUE lines of a unit file's section, in order, as [NAME, VALUE] pairs.
sub unit_settings
{
	my ($path, $section) = @_;
	my ($current, @settings) = ('');
	for my $line (split /\n/, slurp_file($path))
	{
		next if $line =~ /^\s*(#|;|$)/;
		if ($line =~ /^\[(.*)\]$/) { $current = $1; next; }
		push @settings, [ $1, $2 ] if $current eq $section && $line =~ /^(\w+)=(.*)$/;
	}
	return @settings;
}

sub unit_setting
{
	my ($path, $section, $name) = @_;
	my @values = map { $_->[1] } grep { $_->[0] eq $name } unit_settings($path, $section);
	return join("\n", @values);
}

# Each template instantiated as INSTANCE ("walvault-backup@main.service"), side by side as systemd finds
# them, so that a timer's service is there too.
my @instances;
for my $name (@names)
{
	ok(-f "$units/$name", "$name is built for make install");
	(my $instance = $name) =~ s/@\./\@main./;
	File::Copy::copy("$units/$name", "$dir/$instance") or die "could not copy $name: $!";
	push @instances, "$dir/$instance";
}

my ($rc, $out, $err) = analyze('verify', @instances);
is($rc, 0, 'systemd-analyze verify accepts the five units instantiated as @main') or diag($err);
is($err, '', 'systemd-analyze verify: no warning');

my %exec = (
	'walvault-backup@.service' => "$tool backup --config /etc/walvault/%i.conf --expire",
	'walvault-expire@.service' => "$tool expire --config /etc/walvault/%i.conf");
for my $name (sort keys %exec)
{
	my $path = "$units/$name";
	is(unit_setting($path, 'Service', 'ExecStart'), $exec{$name}, "$name runs \"$exec{$name}\"");
	ok(-x (split / /, $exec{$name})[0], "$name: the program of ExecStart is the installed tool");
	is(unit_setting($path, 'Service', 'Type'), 'oneshot', "$name: Type=oneshot");
	is(unit_setting($path, 'Service', 'User') . ' ' . unit_setting($path, 'Service', 'Group'),
		'postgres postgres', "$name: as user and group postgres");
	like(unit_setting($path, 'Service', 'EnvironmentFile'), qr{^-/etc/walvault/%i\.env$},
		"$name: reads /etc/walvault/%i.env when it exists");
	# The sandbox leaves the data directory readable and a repository below /var writable.
	is(unit_setting($path, 'Service', 'ProtectSystem'), 'full',
		"$name: ProtectSystem=full (/usr, /boot, /etc read-only; /var, /srv, /mnt writable)");
	($rc, $out, $err) = analyze('security', '--offline=yes', '--threshold=20', "$dir/" . ($name =~ s/@\./\@main./r));
	is($rc, 0, "$name: systemd-analyze security rates its exposure 2.0 or less") or diag($out . $err);
	like($out, qr/Overall exposure level for .*: [0-9.]+ OK/, "$name: exposure rated OK");
}

# The receiver: a long-running service, started again after a failure, in the same sandbox.
{
	my $name = 'walvault-receive@.service';
	my $path = "$units/$name";
	my $want = "$tool receive --config /etc/walvault/%i.conf";
	is(unit_setting($path, 'Service', 'ExecStart'), $want, "$name runs \"$want\"");
	is(unit_setting($path, 'Service', 'Type'), 'exec', "$name: Type=exec, a long-running process");
	is(unit_setting($path, 'Service', 'Restart'), 'on-failure', "$name: Restart=on-failure");
	is(unit_setting($path, 'Service', 'User') . ' ' . unit_setting($path, 'Service', 'Group'),
		'postgres postgres', "$name: as user and group postgres");
	is(unit_setting($path, 'Install', 'WantedBy'), 'multi-user.target', "$name: enabled by multi-user.target");
	($rc, $out, $err) = analyze('security', '--offline=yes', '--threshold=20', "$dir/" . ($name =~ s/@\./\@main./r));
	is($rc, 0, "$name: systemd-analyze security rates its exposure 2.0 or less") or diag($out . $err);
}

for my $name ('walvault-backup@.timer', 'walvault-expire@.timer')
{
	my $path     = "$units/$name";
	my $calendar = unit_setting($path, 'Timer', 'OnCalendar');
	($rc, $out, $err) = analyze('calendar', $calendar);
	is($rc, 0, "$name: OnCalendar=$calendar is a calendar expression") or diag($err);
	like($out, qr/^\s*Normalized form: \*-\*-\* \d\d:00:00$/m, "$name: once a day, on the hour");
	is(unit_setting($path, 'Timer', 'Persistent'),         'true', "$name: Persistent=true");
	is(unit_setting($path, 'Timer', 'RandomizedDelaySec'), '1h',   "$name: RandomizedDelaySec=1h");
	is(unit_setting($path, 'Install', 'WantedBy'), 'timers.target', "$name: enabled by timers.target");
}

# The same check on a copy whose ExecStart names no program: refused, naming it.
my $broken = "$dir/broken/walvault-backup\@main.service";
mkdir "$dir/broken" or die;
my $text = slurp_file("$units/walvault-backup\@.service");
$text =~ s{^ExecStart=\S+}{ExecStart=$dir/no-such-walvault}m or die 'no ExecStart';
open(my $fh, '>', $broken) or die "could not write $broken: $!";
print $fh $text;
close($fh);
($rc, $out, $err) = analyze('verify', $broken);
isnt($rc, 0, 'systemd-analyze verify refuses a unit whose ExecStart names no program');
like($err, qr/no-such-walvault is not executable/, 'and says which program is missing');

# ---- the services' command lines against a cluster -------------------------------------------------
my $node = walvault_node('primary');
my $repo = $node->basedir . '/repo';
set_conf($node, 'walvault.repo' => "'$repo'");
$node->start;
my $config = "$dir/main.conf";

# The unit's ExecStart, %i the instance "main" and its config file in the test directory; run with the
# environment that /etc/walvault/main.env would give it.
sub run_service
{
	my ($name) = @_;
	my @words = split / /, unit_setting("$units/$name", 'Service', 'ExecStart');
	s{^/etc/walvault/%i\.conf$}{$config} for @words;
	local $ENV{PGHOST}     = $node->host;
	local $ENV{PGPORT}     = $node->port;
	local $ENV{PGDATABASE} = 'postgres';
	local $ENV{WALVAULT_REPO};
	local $ENV{WALVAULT_CONFIG};
	my ($out, $err) = ('', '');
	IPC::Run::run(\@words, '<', \undef, '>', \$out, '2>', \$err);
	note("@words: exit " . ($? >> 8) . "\nstdout: $out\nstderr: $err");
	return ($? >> 8, $out, $err);
}
sub complete_backups
{
	my $list = br_list_json($repo);
	return [ map { $_->{label} } grep { $_->{status} eq 'complete' } @{ $list ? $list->{backups} : [] } ];
}
sub write_config
{
	my ($text) = @_;
	open(my $fh, '>', $config) or die "could not write $config: $!";
	print $fh $text;
	close($fh);
}

# Three runs of the backup service keeping two: each backup's label is its start time, to the second.
write_config("# as /etc/walvault/main.conf\nrepo = '$repo'\nretain_full = 2\n");
my @labels;
for my $run (1 .. 3)
{
	sleep 1 if $run > 1;
	$node->safe_psql('postgres', "CREATE TABLE t$run AS SELECT 1 AS i");
	($rc, $out, $err) = run_service('walvault-backup@.service');
	is($rc, 0, "backup service, run $run: exit 0") or diag($err);
	push @labels, $1 if $out =~ /^backup "([^"]+)" complete/m;
}
is(scalar(@labels), 3, 'each run of the backup service took a complete backup');
is_deeply(complete_backups(), [ @labels[ 1, 2 ] ],
	'after the third run the repository holds the two newest backups: retain_full = 2 from the config file');

# The expire service with retain_full = 1: the newest backup alone.
write_config("repo = '$repo'\nretain_full = 1\n");
($rc, $out, $err) = run_service('walvault-expire@.service');
is($rc, 0, 'expire service: exit 0') or diag($err);
is_deeply(complete_backups(), [ $labels[2] ], 'expire service with retain_full = 1: the newest backup is left');

$node->stop;
done_testing();
