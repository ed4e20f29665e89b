# The systemd units of systemd/, as make install writes them (TEST_OUT/src/systemd): systemd-analyze verify
# accepts each, instantiated for a config file named "main", with no warning; the services run the installed
# tool as documented in docs/operations.md, as postgres, once per start; the timers run daily, catch up
# on a run missed while the machine was off and spread their start over an hour; the sandbox scores as
# systemd's "OK" exposure. The same check fails for a unit whose ExecStart names no program, so a pass
# means something.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use File::Copy ();
use Test::More;
use WalvaultTest;

my $tool  = $ENV{WALVAULT_TOOL} // 'walvault';
my $units = '../systemd';                     # TEST_OUT/src/systemd; the tests run in TEST_OUT/src/test
my $dir   = PostgreSQL::Test::Utils::tempdir();
my @names = ('walvault-backup@.service', 'walvault-backup@.timer', 'walvault-expire@.service',
	'walvault-expire@.timer');

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
is($rc, 0, 'systemd-analyze verify accepts the four units instantiated as @main') or diag($err);
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

done_testing();
