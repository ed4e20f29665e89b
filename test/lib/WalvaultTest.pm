=pod

=head1 NAME

WalvaultTest - helpers shared by the walvault TAP tests

=head1 SYNOPSIS

  use WalvaultTest;

  my $repo = PostgreSQL::Test::Utils::tempdir() . '/repo';
  my $node = walvault_node('primary', repo => $repo);
  $node->start;
  my @names = make_segments($node, 3, 'random');
  ok(wait_for_done($node, @names), 'archived');
  check_archived($repo, $node, $_) for @names;

=head1 DESCRIPTION

What a DBA would look at, as functions: the .ready and .done files in
pg_wal/archive_status, the objects in the repository (at the key the
repository format documents), what stock zstd restores from them, the JSON
trailer at the end of each object, walvault_status() and pg_stat_archiver.

Nothing here knows walvault's internals beyond its documented formats.

=cut

package WalvaultTest;

use strict;
use warnings;

use Carp;
use Digest::SHA;
use Exporter 'import';
use Fcntl qw(:flock O_RDWR O_CREAT);
use File::Find;
use File::Path qw(make_path);
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

our @EXPORT = qw(
  $ZSTD
  new_node
  walvault_node
  segment_size
  object_key
  object_path
  hold_object
  read_trailer
  write_trailer
  decode_object
  file_sha256
  file_xxh3_128
  check_archived
  status_files
  ready_files
  done_files
  wait_until
  wait_for_no_ready
  wait_for_done
  wait_for_status
  walvault_status
  archiver_stats
  switch_wal
  make_segments
  repo_listing
  repo_temp_files
  archiver_pid
  set_conf
  not_configured_re
  failure_level
);

# Decompression checks use the stock zstd program: a DBA restoring by hand has nothing else.
our $ZSTD = '/usr/bin/zstd';
# The trailer's xxh3_128 is checked with xxHash's own program (Debian's xxhash), as a DBA would.
my $XXHSUM = '/usr/bin/xxhsum';

# Trailer format (core/codec/codec.h): a zstd skippable frame
# (magic 0x184D2A57, LE32 content size) holding JSON, whose last 8 bytes are LE32 frame size + "WVMT".
my $TRAILER_FRAME_MAGIC = 0x184D2A57;
my $TRAILER_MAX_BYTES   = 4096;

=pod

=head1 FUNCTIONS

=over

=item new_node(name)

PostgreSQL::Test::Cluster->new(name), on the PostgreSQL installation that the
environment variable WALVAULT_PG_INSTALL names (a directory with bin/ and
lib/, PostgreSQL::Test::Cluster's install_path; scripts/test-major.sh sets it
for the newer majors), or on the one in PATH when it is not set.

=cut

sub new_node
{
	my ($name) = @_;
	my $install = $ENV{WALVAULT_PG_INSTALL};
	return PostgreSQL::Test::Cluster->new($name,
		defined $install && $install ne '' ? (install_path => $install) : ());
}

=pod

=item walvault_node(name, repo => DIR, conf => TEXT, preload => 1, wal_keep_size => '2GB')

A new (not started) node, initialised for WAL archiving through walvault:
wal_level replica, archive_mode on, archive_library 'walvault', walvault in
shared_preload_libraries (unless preload => 0), walvault.repo = DIR (if given)
and a wal_keep_size that keeps archived segments in pg_wal, so that the test
can compare them with what the repository holds. conf is appended last.

=cut

sub walvault_node
{
	my ($name, %params) = @_;
	my $node = new_node($name);
	$node->init(allows_streaming => 1, %{ $params{init} // {} });

	my $preload = $params{preload} // 1;
	my $keep    = $params{wal_keep_size} // '2GB';
	my $conf    = "\n# walvault test settings\n";
	$conf .= "shared_preload_libraries = 'walvault'\n" if $preload;
	$conf .= "archive_mode = on\n";
	$conf .= "archive_library = 'walvault'\n";
	$conf .= "walvault.repo = '$params{repo}'\n" if defined $params{repo};
	$conf .= "wal_keep_size = '$keep'\n";
	# Fewer checkpoints while the tests generate WAL; archived segments stay anyway.
	$conf .= "max_wal_size = '4GB'\n";
	$conf .= "shared_buffers = '16MB'\n";
	$conf .= $params{conf} if defined $params{conf};
	$node->append_conf('postgresql.conf', $conf);
	return $node;
}

=pod

=item set_conf(node, name => value, ...)

Replaces (or adds) settings in postgresql.conf. Values are written as given,
so quote strings: set_conf($node, 'walvault.compression' => "'none'").
Does not reload.

=cut

sub set_conf
{
	my ($node, %settings) = @_;
	while (my ($name, $value) = each %settings)
	{
		$node->adjust_conf('postgresql.conf', $name, undef);
		$node->append_conf('postgresql.conf', "$name = $value");
	}
	return;
}

=pod

=item failure_level(node)

The level at which the node's walvault logs a file it could not archive:
'WARNING' up to PostgreSQL 16, 'ERROR' from 17 on (PostgreSQL catches an
ERROR of the archive callback from then on; docs/architecture.md).

=cut

sub failure_level
{
	my ($node) = @_;
	return $node->pg_version >= 17 ? 'ERROR' : 'WARNING';
}

=pod

=item not_configured_re(node)

What the server log says while walvault.repo is empty, by the node's major:
up to 16 walvault's own WARNING "walvault.repo is not set"; from 17 on
PostgreSQL's own WARNING that archiving is not configured, with walvault's
reason as its DETAIL (arch_module_check_errdetail).

=cut

sub not_configured_re
{
	my ($node) = @_;
	return $node->pg_version >= 17
	  ? qr/WARNING:  "archive_mode" enabled, yet archiving is not configured\n[^\n]*DETAIL:  walvault\.repo is not set\./
	  : qr/WARNING:  walvault\.repo is not set/;
}

=pod

=item segment_size(node)

wal_segment_size in bytes, as the server reports it.

=cut

sub segment_size
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size'"
	) + 0;
}

=pod

=item object_key(name)

The documented repository key of a WAL file name: wal/<name>.zst for timeline
history files, wal/<first 16 hex digits>/<name>.zst for segments, .partial
and .backup files.

=cut

sub object_key
{
	my ($name) = @_;
	return "wal/$name.zst" if $name =~ /^[0-9A-F]{8}\.history$/;
	croak "not a WAL file name: $name"
	  unless $name =~ /^[0-9A-F]{24}(\.partial|\.[0-9A-F]{8}\.backup)?$/;
	return 'wal/' . substr($name, 0, 16) . "/$name.zst";
}

sub object_path
{
	my ($repo, $name) = @_;
	return "$repo/" . object_key($name);
}

=pod

=item hold_object(repo, name)

Holds the temp-file lock of WAL file name's object in the posix repository
repo, as a second writer of the same file would: walvault cannot write that
object until the returned handle is closed. Dies if the lock is taken.

=cut

sub hold_object
{
	my ($repo, $name) = @_;
	my $object = object_path($repo, $name);
	(my $dir = $object) =~ s{/[^/]+$}{};
	(my $base = $object) =~ s{^.*/}{};
	make_path($dir);
	my $temp = "$dir/.$base.tmp";
	sysopen(my $lock, $temp, O_RDWR | O_CREAT, 0600) or die "open $temp: $!";
	flock($lock, LOCK_EX | LOCK_NB) or die "lock $temp: $!";
	return $lock;
}

=pod

=item read_trailer(path)

The JSON trailer at the end of an object, as a hash reference, or undef (with
a diag) if the last bytes are not a well-formed trailer frame.

=cut

sub read_trailer
{
	my ($path) = @_;
	my $size = -s $path;
	if (!defined $size || $size < 16)
	{
		diag("$path: missing or too short for a trailer");
		return undef;
	}
	open my $fh, '<:raw', $path or croak "could not open $path: $!";
	my $tail_len = $size < $TRAILER_MAX_BYTES ? $size : $TRAILER_MAX_BYTES;
	seek($fh, $size - $tail_len, 0) or croak "seek $path: $!";
	my $tail = '';
	read($fh, $tail, $tail_len) == $tail_len or croak "short read of $path";
	close $fh;

	my ($frame, $footer_magic) = unpack('V a4', substr($tail, -8));
	if ($footer_magic ne 'WVMT' || $frame < 16 || $frame > $tail_len)
	{
		diag("$path: no trailer footer (frame size $frame, magic '$footer_magic')");
		return undef;
	}
	my $frame_bytes = substr($tail, -$frame);
	my ($magic, $content) = unpack('V V', $frame_bytes);
	if ($magic != $TRAILER_FRAME_MAGIC || $content != $frame - 8)
	{
		diag(sprintf("%s: bad trailer frame header (magic %08X, size %d, frame %d)",
				$path, $magic, $content, $frame));
		return undef;
	}
	my $json = substr($frame_bytes, 8, $frame - 16);
	my $meta = eval { JSON::PP->new->decode($json) };
	if (!defined $meta || ref $meta ne 'HASH')
	{
		diag("$path: trailer is not a JSON object: $json");
		return undef;
	}
	return $meta;
}

=pod

=item write_trailer(path, meta)

Replaces the trailer of the object at path with one holding the JSON object
meta (a hash), as walvault encodes it: a test's way to make the objects of
another walvault version.

=cut

sub write_trailer
{
	my ($path, $meta) = @_;
	my $size = -s $path;
	open my $fh, '+<:raw', $path or croak "could not open $path: $!";
	my $tail_len = $size < $TRAILER_MAX_BYTES ? $size : $TRAILER_MAX_BYTES;
	seek($fh, $size - $tail_len, 0) or croak "seek $path: $!";
	my $tail = '';
	read($fh, $tail, $tail_len) == $tail_len or croak "short read of $path";
	my ($frame, $footer_magic) = unpack('V a4', substr($tail, -8));
	croak "$path has no trailer" if $footer_magic ne 'WVMT' || $frame > $tail_len;
	my $json = JSON::PP->new->canonical->encode($meta);
	my $content = length($json) + 8;
	truncate($fh, $size - $frame) or croak "truncate $path: $!";
	seek($fh, $size - $frame, 0) or croak "seek $path: $!";
	print $fh pack('V V', $TRAILER_FRAME_MAGIC, $content), $json, pack('V', $content + 8), 'WVMT'
	  or croak "write $path: $!";
	close $fh or croak "close $path: $!";
	return;
}

=pod

=item decode_object(path [, out_path])

Runs the stock "zstd -d" on an object. Returns (sha256 hex, length) of what it
restored, or an empty list if zstd failed. With out_path, also writes the
restored bytes there.

=cut

sub decode_object
{
	my ($path, $out_path) = @_;
	open(my $fh, '-|', $ZSTD, '-d', '-c', '-q', $path)
	  or croak "could not run $ZSTD: $!";
	binmode $fh;
	my $out;
	if (defined $out_path)
	{
		open $out, '>:raw', $out_path or croak "could not write $out_path: $!";
	}
	my $sha = Digest::SHA->new(256);
	my $len = 0;
	my $buf;
	while (my $n = read($fh, $buf, 1 << 20))
	{
		$sha->add($buf);
		$len += $n;
		print $out $buf if $out;
	}
	close $out if $out;
	if (!close $fh)
	{
		diag("$ZSTD -d $path failed: exit status " . ($? >> 8));
		return ();
	}
	return ($sha->hexdigest, $len);
}

=pod

=item file_sha256(path)

(sha256 hex, length) of a file.

=cut

sub file_sha256
{
	my ($path) = @_;
	open my $fh, '<:raw', $path or croak "could not open $path: $!";
	my $sha = Digest::SHA->new(256);
	$sha->addfile($fh);
	close $fh;
	return ($sha->hexdigest, -s $path);
}

=pod

=item file_xxh3_128(path)

XXH3-128 of a file in hex, as "xxhsum -H2" prints it.

=cut

sub file_xxh3_128
{
	my ($path) = @_;
	open(my $fh, '-|', $XXHSUM, '-H2', $path) or croak "could not run $XXHSUM: $!";
	my $line = <$fh> // '';
	close $fh or croak "$XXHSUM -H2 $path failed: exit status " . ($? >> 8);
	$line =~ /^([0-9a-f]{32})\s/ or croak "unexpected output of $XXHSUM: $line";
	return $1;
}

=pod

=item check_archived(repo, original, name [, label])

Three tests for one archived file: its object exists at the documented key,
"zstd -d" restores exactly the original (the file at path original, compared
by sha256 and length), and the trailer names the file and records the
original's length, sha256 and xxh3_128 (as xxhsum computes it). Returns the
trailer (or undef).

original may be a node, meaning the file name in its pg_wal.

=cut

sub check_archived
{
	my ($repo, $original, $name, $label) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	$label //= $name;
	my $orig_path =
	  ref $original ? $original->data_dir . "/pg_wal/$name" : $original;
	my $object = object_path($repo, $name);

	my ($orig_sha, $orig_len) = file_sha256($orig_path);
	if (!ok(-f $object, "$label: object exists at " . object_key($name)))
	{
		fail("$label: zstd -d restores the original (no object)");
		fail("$label: trailer matches the original (no object)");
		return undef;
	}
	my ($sha, $len) = decode_object($object);
	is_deeply(
		[ $sha, $len ],
		[ $orig_sha, $orig_len ],
		"$label: zstd -d restores the original byte for byte");
	my $meta = read_trailer($object);
	is_deeply(
		$meta
		? {
			format => $meta->{format},
			name   => $meta->{name},
			length   => $meta->{length},
			sha256   => $meta->{sha256},
			xxh3_128 => $meta->{xxh3_128}
		  }
		: undef,
		{
			format   => 1,
			name     => $name,
			length   => $orig_len,
			sha256   => $orig_sha,
			xxh3_128 => file_xxh3_128($orig_path)
		},
		"$label: trailer records name, length, sha256 and xxh3_128 of the original");
	return $meta;
}

=pod

=item status_files(node, suffix), ready_files(node), done_files(node)

Names of the WAL files with a .ready or .done file in pg_wal/archive_status,
sorted.

=cut

sub status_files
{
	my ($node, $suffix) = @_;
	my $dir = $node->data_dir . '/pg_wal/archive_status';
	opendir my $dh, $dir or croak "could not open $dir: $!";
	my @names = sort map { /^(.+)\.\Q$suffix\E$/ ? $1 : () } readdir $dh;
	closedir $dh;
	return @names;
}

sub ready_files { return status_files($_[0], 'ready'); }
sub done_files  { return status_files($_[0], 'done'); }

=pod

=item wait_until(code [, timeout_seconds])

Calls code every 100 ms until it returns true; returns true, or false after
the timeout (default: PostgreSQL::Test::Utils::timeout_default).

=cut

sub wait_until
{
	my ($code, $timeout) = @_;
	$timeout //= $PostgreSQL::Test::Utils::timeout_default;
	my $deadline = time() + $timeout;
	while (1)
	{
		return 1 if $code->();
		return 0 if time() > $deadline;
		usleep(100_000);
	}
}

=pod

=item wait_for_no_ready(node [, timeout])

Waits until pg_wal/archive_status holds no .ready file. Returns true on
success.

=cut

sub wait_for_no_ready
{
	my ($node, $timeout) = @_;
	return wait_until(sub { !ready_files($node) }, $timeout);
}

=pod

=item wait_for_done(node, names... )

Waits until every named file has a .done file.

=cut

sub wait_for_done
{
	my ($node, @names) = @_;
	my $dir = $node->data_dir . '/pg_wal/archive_status';
	return wait_until(sub { !grep { !-e "$dir/$_.done" } @names });
}

=pod

=item walvault_status(node), archiver_stats(node)

walvault_status() and pg_stat_archiver as hash references (SQL NULL is undef).

=cut

sub walvault_status
{
	my ($node) = @_;
	return JSON::PP->new->decode(
		$node->safe_psql(
			'postgres', 'SELECT row_to_json(s) FROM walvault_status() s'));
}

sub archiver_stats
{
	my ($node) = @_;
	return JSON::PP->new->decode(
		$node->safe_psql(
			'postgres', 'SELECT row_to_json(a) FROM pg_stat_archiver a'));
}

=pod

=item wait_for_status(node, code)

Polls walvault_status() until code, given the status hash, returns true.
Returns the last status seen on success, undef (with a diag of it) on timeout.

=cut

sub wait_for_status
{
	my ($node, $code) = @_;
	my $st;
	return $st if wait_until(sub { $st = walvault_status($node); $code->($st) });
	diag('walvault_status() last seen: ' . JSON::PP->new->canonical->encode($st));
	return undef;
}

=pod

=item switch_wal(node)

Writes a little WAL and switches to a new segment; returns the name of the
segment it completed (which becomes .ready).

=cut

sub switch_wal
{
	my ($node) = @_;
	my $out = $node->safe_psql('postgres',
		"SELECT pg_logical_emit_message(false, 'walvault-test', 'switch');\n"
		  . "SELECT pg_walfile_name(pg_switch_wal());");
	my @lines = split /\n/, $out;
	return $lines[-1];
}

=pod

=item make_segments(node, count, kind)

Completes count WAL segments, one per step, each filled with kind of data
(non-transactional logical messages of 1 MiB that fill the segment nearly up)
and closed with pg_switch_wal(). kind is:

  'empty'   a few bytes only: the rest of the segment is zeros, compresses to nothing
  'random'  pseudo-random bytes (sha256 of random seeds): incompressible
  'hex'     random hex text (md5): compresses 2:1, and very slowly at high zstd levels

Returns the names of the completed segments.

=cut

sub make_segments
{
	my ($node, $count, $kind) = @_;
	my $segsize = segment_size($node);
	# Whole MiB that fit in the rest of the current segment, less a margin for page headers (24 bytes
	# per 8 kB page) and record headers, so that the messages never spill into the next segment.
	my $chunks =
	  "(SELECT floor(($segsize - ((pg_current_wal_insert_lsn() - '0/0') % $segsize) - 65536) * 0.99 / 1048576)::int)";
	# One MiB per row of g; "+ g * 0" makes the subquery run again for every row.
	my %chunk = (
		random => "(SELECT string_agg(sha256(convert_to(random()::text || i, 'UTF8')), ''::bytea) "
		  . "FROM generate_series(1, 32768 + g * 0) i)",
		hex => "(SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 32768 + g * 0) i)");
	my $payload;
	if ($kind eq 'empty')
	{
		$payload = "SELECT pg_logical_emit_message(false, 'walvault-test', 'x')";
	}
	elsif (defined $chunk{$kind})
	{
		$payload =
		  "SELECT count(pg_logical_emit_message(false, 'walvault-test', $chunk{$kind})) "
		  . "FROM generate_series(1, $chunks) g";
	}
	else
	{
		croak "unknown kind of segment \"$kind\"";
	}
	my @names;
	for (1 .. $count)
	{
		my $out = $node->safe_psql('postgres',
			"$payload;\nSELECT pg_walfile_name(pg_switch_wal());");
		my @lines = split /\n/, $out;
		push @names, $lines[-1];
	}
	return @names;
}

=pod

=item repo_listing(repo)

Every file and directory below repo, hidden ones included, as a sorted list
of "relative/path size sha256" (directories: "relative/path/"). Two equal
listings mean nothing was added, removed or changed.

=cut

sub repo_listing
{
	my ($repo) = @_;
	my @entries;
	return () unless -d $repo;
	find(
		{
			no_chdir => 1,
			wanted   => sub {
				my $rel = substr($File::Find::name, length($repo));
				$rel =~ s{^/}{};
				return if $rel eq '';
				if (-d $File::Find::name)
				{
					push @entries, "$rel/";
				}
				else
				{
					my ($sha, $len) = file_sha256($File::Find::name);
					push @entries, "$rel $len $sha";
				}
			}
		},
		$repo);
	return sort @entries;
}

=pod

=item repo_temp_files(repo)

Hidden temporary files (".NAME.tmp") anywhere below repo, relative paths.

=cut

sub repo_temp_files
{
	my ($repo) = @_;
	my @found;
	return () unless -d $repo;
	find(
		{
			no_chdir => 1,
			wanted   => sub {
				my $base = $_;
				$base =~ s{.*/}{};
				push @found, substr($File::Find::name, length($repo) + 1)
				  if -f $File::Find::name && $base =~ /^\..*\.tmp$/;
			}
		},
		$repo);
	return sort @found;
}

=pod

=item archiver_pid(node)

The archiver's PID, from pg_stat_activity (empty string if none).

=cut

sub archiver_pid
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'archiver'");
}

=pod

=back

=cut

# backup and restore helpers (walvault backup / restore / list / backup-delete; used by 009 and 011)

use B ();
use IPC::Run ();

push @EXPORT, qw(
  br_tool_run
  br_backup
  br_list_json
  br_json_type
  br_flip_byte
  br_backup_history
  br_configure_restored
  br_wait_server_gone
  br_dir_entries
);

=pod

=head1 BACKUP AND RESTORE HELPERS

=over

=item br_tool_run(args...)

Runs the walvault tool ($ENV{WALVAULT_TOOL}, else "walvault" from PATH) with
args, without any WALVAULT_REPO or WALVAULT_CONFIG from the environment.
Returns (exit status, stdout, stderr).

=cut

sub br_tool_run
{
	my @args = @_;
	my $tool = $ENV{WALVAULT_TOOL} // 'walvault';
	local $ENV{WALVAULT_REPO};
	local $ENV{WALVAULT_CONFIG};
	my ($out, $err) = ('', '');
	my $started = Time::HiRes::time();
	IPC::Run::run([ $tool, @args ], '<', \undef, '>', \$out, '2>', \$err);
	my $rc = $? >> 8;
	note(sprintf("walvault %s: exit %d in %.1f s%s",
			"@args", $rc, Time::HiRes::time() - $started, $err ne '' ? "\nstderr: $err" : ''));
	return ($rc, $out, $err);
}

=pod

=item br_backup(node, repo, extra args...)

"walvault backup --repo REPO --dbname <node's connstr> --checkpoint fast" plus
extra args. Returns (exit status, stdout, stderr).

=cut

sub br_backup
{
	my ($node, $repo, @extra) = @_;
	return br_tool_run('backup', '--repo', $repo, '--dbname', $node->connstr('postgres'),
		'--checkpoint', 'fast', @extra);
}

=pod

=item br_list_json(repo)

"walvault list --json" decoded, or undef (with a diag) if it failed or did not
print one JSON document.

=cut

sub br_list_json
{
	my ($repo) = @_;
	my ($rc, $out, $err) = br_tool_run('list', '--json', '--repo', $repo);
	if ($rc != 0)
	{
		diag("walvault list --json exited $rc: $err");
		return undef;
	}
	my $doc = eval { JSON::PP->new->decode($out) };
	diag("walvault list --json printed no JSON document: $@\n$out") unless defined $doc;
	return $doc;
}

=pod

=item br_json_type(value)

The JSON type a decoded value had: 'null', 'boolean', 'number', 'string',
'array' or 'object'. Ask before using a number as a string (Perl then also
keeps its string form).

=cut

sub br_json_type
{
	my ($value) = @_;
	return 'null' unless defined $value;
	return 'boolean' if JSON::PP::is_bool($value);
	return 'array'   if ref $value eq 'ARRAY';
	return 'object'  if ref $value eq 'HASH';
	my $flags = B::svref_2object(\$value)->FLAGS;
	return 'string' if $flags & B::SVf_POK;
	return 'number' if $flags & (B::SVf_IOK | B::SVf_NOK);
	return 'unknown';
}

=pod

=item br_flip_byte(path [, offset])

Inverts one byte of a file in place (default: the one in the middle).
Returns the offset.

=cut

sub br_flip_byte
{
	my ($path, $offset) = @_;
	my $size = -s $path;
	croak "$path: missing or empty" unless $size;
	$offset //= int($size / 2);
	open my $fh, '+<:raw', $path or croak "could not open $path: $!";
	seek($fh, $offset, 0) or croak "seek $path: $!";
	my $byte;
	read($fh, $byte, 1) == 1 or croak "short read of $path";
	seek($fh, $offset, 0) or croak "seek $path: $!";
	print $fh chr(ord($byte) ^ 0xFF);
	close $fh or croak "could not write $path: $!";
	return $offset;
}

=pod

=item br_backup_history(repo, label)

The backup history file (<segment>.<offset>.backup) PostgreSQL wrote at
pg_backup_stop() for the backup whose LABEL line ends with label, read from
the repository with stock zstd. Returns a hash reference (start_lsn,
start_wal, stop_lsn, stop_wal, label) or undef (with a diag).

=cut

sub br_backup_history
{
	my ($repo, $label) = @_;
	my @objects;
	find(
		{
			no_chdir => 1,
			wanted =>
			  sub { push @objects, $File::Find::name if /\.[0-9A-F]{8}\.backup\.zst$/ }
		},
		"$repo/wal");
	my $tmp = PostgreSQL::Test::Utils::tempdir();
	for my $object (sort @objects)
	{
		next unless decode_object($object, "$tmp/history");
		my $text = PostgreSQL::Test::Utils::slurp_file("$tmp/history");
		next unless $text =~ /^LABEL: (.*\Q$label\E)$/m;
		my %h = (label => $1);
		@h{qw(start_lsn start_wal)} = $text =~ m{^START WAL LOCATION: ([0-9A-F]+/[0-9A-F]+) \(file ([0-9A-F]{24})\)$}m;
		@h{qw(stop_lsn stop_wal)}   = $text =~ m{^STOP WAL LOCATION: ([0-9A-F]+/[0-9A-F]+) \(file ([0-9A-F]{24})\)$}m;
		return \%h;
	}
	diag("no backup history file with label \"$label\" among " . scalar(@objects) . " in $repo/wal");
	return undef;
}

=pod

=item br_configure_restored(node [, conf])

For a PostgreSQL::Test::Cluster object created with new() (not initialised)
whose data directory walvault restore just wrote: sets the node's own port and
socket directory (the restored postgresql.conf has those of the original) and
appends conf, as init_from_backup does for pg_basebackup copies.

=cut

sub br_configure_restored
{
	my ($node, $conf) = @_;
	my $text = "\n# restored copy: this node's connection settings\nport = " . $node->port . "\n";
	if ($PostgreSQL::Test::Utils::use_unix_sockets)
	{
		$text .= "unix_socket_directories = '" . $node->host . "'\n";
	}
	else
	{
		$text .= "listen_addresses = '" . $node->host . "'\n";
	}
	$text .= $conf if defined $conf;
	$node->append_conf('postgresql.conf', $text);
	return;
}

=pod

=item br_wait_server_gone(node [, timeout])

Waits until the node's postmaster is gone (postmaster.pid removed, as after a
FATAL error in the startup process), then tells the node object so that its
teardown does not try to stop it. Returns true if it went; otherwise stops it
(immediate) and returns false.

=cut

sub br_wait_server_gone
{
	my ($node, $timeout) = @_;
	my $pidfile = $node->data_dir . '/postmaster.pid';
	my $gone = wait_until(sub { !-e $pidfile }, $timeout // 60);
	# pg_ctl stop fails on a server that is gone; either way the node object then knows it is stopped.
	$node->stop('immediate', fail_ok => 1);
	return $gone;
}

=pod

=item br_dir_entries(dir)

Names in a directory (no . and ..), sorted; empty list if it does not exist.

=cut

sub br_dir_entries
{
	my ($dir) = @_;
	opendir my $dh, $dir or return ();
	my @names = sort grep { $_ ne '.' && $_ ne '..' } readdir $dh;
	closedir $dh;
	return @names;
}

=pod

=back

=cut


# point-in-time recovery helpers (walvault backup / restore / list as a DBA runs them; used by 010 and 012)

use IPC::Run ();

push @EXPORT, qw(
  pitr_tool
  pitr_backup
  pitr_restore_node
  pitr_list
  pitr_databases
  pitr_timeline
  server_manifest
  verify_restored
  walvault_standby
);

=pod

=head1 POINT-IN-TIME RECOVERY HELPERS

=over

=item pitr_tool(args...)

Runs the walvault tool ($ENV{WALVAULT_TOOL}, else "walvault" from PATH) with
args, without WALVAULT_REPO or WALVAULT_CONFIG from the environment. Returns
(exit status, stdout, stderr) and notes all three in the test's log.

=cut

sub pitr_tool
{
	my @args = @_;
	my $tool = $ENV{WALVAULT_TOOL} // 'walvault';
	local $ENV{WALVAULT_REPO};
	local $ENV{WALVAULT_CONFIG};
	my ($out, $err) = ('', '');
	IPC::Run::run([ $tool, @args ], '<', \undef, '>', \$out, '2>', \$err);
	my $rc = ($? & 127) ? 128 + ($? & 127) : $? >> 8;
	note("walvault @args: exit $rc" . ($out ne '' ? "\nstdout: $out" : '') . ($err ne '' ? "\nstderr: $err" : ''));
	return ($rc, $out, $err);
}

=pod

=item pitr_backup(node, label, settings...)

"walvault backup --label LABEL --checkpoint fast --dbname <node's connstr>"
plus settings (--repo and the like), as two tests: it exits 0, and its one
line on stdout says the backup is complete, with its files, LSNs and
timeline. Returns that line's fields { label, files, start_lsn, stop_lsn,
timeline }, or undef.

=cut

sub pitr_backup
{
	my ($node, $label, @settings) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($rc, $out, $err) = pitr_tool('backup', '--label', $label, '--checkpoint', 'fast',
		'--dbname', $node->connstr('postgres'), @settings);
	is($rc, 0, "backup \"$label\" of " . $node->name . ": walvault backup exits 0");
	my $lsn = qr{[0-9A-F]+/[0-9A-F]+};
	if (!like(
			$out,
			qr/^backup "\Q$label\E" complete: \d+ files, .+ read, .+ stored, in [\d.]+ s \(start $lsn, stop $lsn, timeline \d+\)\n\z/,
			"backup \"$label\": one summary line on stdout"))
	{
		return undef;
	}
	my %b = (label => $label);
	@b{qw(files start_lsn stop_lsn timeline)} =
	  $out =~ m{complete: (\d+) files, .* \(start ($lsn), stop ($lsn), timeline (\d+)\)};
	return \%b;
}

=pod

=item pitr_restore_node(name, args => [ ... ], conf => TEXT, verify => 1, server_manifest => TEXT)

A new PostgreSQL::Test::Cluster (not initialised, of WALVAULT_PG_INSTALL's
major) whose data directory "walvault restore ARGS --pgdata DIR" writes. If
the restore succeeded: with verify, the tests of verify_restored(DIR, name,
server_manifest => TEXT); then the
node's own port and socket directory (the restored postgresql.conf has the
original's) and conf are appended to postgresql.conf, as init_from_backup
does. Not started. Returns (node, exit status, stdout, stderr).

=cut

sub pitr_restore_node
{
	my ($name, %params) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $node = new_node($name);
	my ($rc, $out, $err) = pitr_tool('restore', @{ $params{args} // [] }, '--pgdata', $node->data_dir);
	return ($node, $rc, $out, $err) if $rc != 0;

	verify_restored($node->data_dir, $name, server_manifest => $params{server_manifest}) if $params{verify};
	my $conf = "\n# this test node's own connection settings\nport = " . $node->port . "\n";
	if ($PostgreSQL::Test::Utils::use_unix_sockets)
	{
		$conf .= "unix_socket_directories = '" . $node->host . "'\n";
	}
	else
	{
		$conf .= "listen_addresses = '" . $node->host . "'\n";
	}
	$conf .= $params{conf} if defined $params{conf};
	$node->append_conf('postgresql.conf', $conf);
	return ($node, $rc, $out, $err);
}

=pod

=item pitr_list(settings...)

"walvault list --json" with settings, decoded; undef (with a diag) if it
failed or did not print one JSON document.

=cut

sub pitr_list
{
	my @settings = @_;
	my ($rc, $out, $err) = pitr_tool('list', '--json', @settings);
	if ($rc != 0)
	{
		diag("walvault list --json exited $rc: $err");
		return undef;
	}
	my $doc = eval { JSON::PP->new->decode($out) };
	diag("walvault list --json printed no JSON document: $@") unless defined $doc;
	return $doc;
}

=pod

=item pitr_databases(node, names...)

Which of the named databases the node has: { name => 1 or 0 }.

=cut

sub pitr_databases
{
	my ($node, @names) = @_;
	my %have = map { ($_ => 1) } split /\n/,
	  $node->safe_psql('postgres', 'SELECT datname FROM pg_database');
	return { map { ($_ => $have{$_} ? 1 : 0) } @names };
}

=pod

=item pitr_timeline(node)

The timeline of the node's latest checkpoint (pg_control_checkpoint()).

=cut

sub pitr_timeline
{
	my ($node) = @_;
	return $node->safe_psql('postgres', 'SELECT timeline_id FROM pg_control_checkpoint()');
}

=pod

=back

=cut


=pod

=item server_manifest(node)

The backup_manifest the server itself writes for a base backup: BASE_BACKUP
with MANIFEST 'yes' over a replication connection (the installed psql, with
libpq), the server writing the backup into a new directory of the test
(TARGET 'server', TARGET_DETAIL DIR), from which the manifest is read. The way to see a
newer major's own manifest format with the clients of an older one, whose
pg_basebackup refuses newer servers.

=cut

sub server_manifest
{
	my ($node) = @_;
	my $dir = PostgreSQL::Test::Utils::tempdir() . '/server_backup';
	my ($out, $err) = ('', '');
	IPC::Run::run(
		[
			$node->installed_command('psql'), '-XAtq', '-d',
			$node->connstr('postgres') . ' replication=database',
			'-c', "BASE_BACKUP (TARGET 'server', TARGET_DETAIL '$dir', CHECKPOINT 'fast', MANIFEST 'yes')"
		],
		'<', \undef, '>', \$out, '2>', \$err);
	# psql takes the COPY stream of progress messages that comes before the end for an error and exits 1
	# once the server has written the backup: what counts is the manifest in the directory.
	croak "BASE_BACKUP to the server wrote no backup_manifest: $err" unless -f "$dir/backup_manifest";
	return PostgreSQL::Test::Utils::slurp_file("$dir/backup_manifest");
}

=pod

=item verify_restored(dir, label, server_manifest => TEXT)

What pg_verifybackup -n of the major that took the backup checks in a
restored data directory, as tests:

  - with server_manifest (what server_manifest() returned for the server the
    backup was taken of): the manifest's header (format version and, from
    version 2 on, System-Identifier) is byte for byte that one's;
  - its Manifest-Checksum is the sha256 of everything before that line;
  - from version 2 on: its System-Identifier is the one in global/pg_control;
  - "pg_verifybackup -n" (the installed one) accepts the directory: every file
    listed with its size and checksum. An older pg_verifybackup reads only
    version 1, so a version-2 manifest is given to it (-m) as version 1: the
    same file and WAL lines without System-Identifier, its checksum recomputed.

=cut

sub verify_restored
{
	my ($dir, $label, %params) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $manifest = PostgreSQL::Test::Utils::slurp_file("$dir/backup_manifest");
	my ($header) = $manifest =~ /\A(.*?)"Files": \[/s;
	$header //= '';
	my ($version) = $header =~ /"PostgreSQL-Backup-Manifest-Version": (\d+),/;
	$version //= 0;
	if (defined $params{server_manifest})
	{
		my ($theirs) = $params{server_manifest} =~ /\A(.*?)"Files": \[/s;
		is($header, $theirs,
			"$label: backup_manifest has the server's own header (format version $version)");
	}
	my ($body, $checksum) = $manifest =~ /\A(.*\n)"Manifest-Checksum": "([0-9a-f]{64})"\}\n\z/s;
	is($checksum, $body && Digest::SHA::sha256_hex($body), "$label: backup_manifest's Manifest-Checksum is right");

	my @manifest_option;
	if ($version >= 2)
	{
		my ($sysid) = $header =~ /"System-Identifier": (\d+),/;
		open my $fh, '<:raw', "$dir/global/pg_control" or croak "could not open $dir/global/pg_control: $!";
		my $control = '';
		read($fh, $control, 8) == 8 or croak "short read of $dir/global/pg_control";
		close $fh;
		is($sysid, unpack('Q<', $control), "$label: backup_manifest's System-Identifier is global/pg_control's");

		(my $v1 = $body) =~ s/\A\{ "PostgreSQL-Backup-Manifest-Version": \d+,\n"System-Identifier": \d+,\n/{ "PostgreSQL-Backup-Manifest-Version": 1,\n/;
		$v1 .= '"Manifest-Checksum": "' . Digest::SHA::sha256_hex($v1) . "\"}\n";
		my $path = PostgreSQL::Test::Utils::tempdir() . '/backup_manifest.v1';
		open my $out, '>:raw', $path or croak "could not write $path: $!";
		print $out $v1;
		close $out or croak "could not write $path: $!";
		@manifest_option = ('-m', $path);
	}
	my ($vout, $verr) = ('', '');
	IPC::Run::run([ 'pg_verifybackup', '-n', @manifest_option, $dir ], '<', \undef, '>', \$vout, '2>', \$verr);
	is($? >> 8, 0,
		"$label: pg_verifybackup -n accepts the restored files" . (@manifest_option ? ' (manifest as version 1)' : ''))
	  or diag("pg_verifybackup: $vout$verr");
	return;
}

=pod

=item walvault_standby(primary, name, repo)

A streaming standby of primary, made the way a DBA would with walvault (and
with any major, where the installed pg_basebackup may refuse a newer server):
"walvault backup" into repo, "walvault restore --standby" into a new node,
which gets primary_conninfo (application_name: name). Not started.

=cut

sub walvault_standby
{
	my ($primary, $name, $repo) = @_;
	my $label = "$name-base";
	my ($rc, $out, $err) = pitr_tool('backup', '--repo', $repo, '--label', $label, '--checkpoint', 'fast',
		'--dbname', $primary->connstr('postgres'));
	croak "walvault backup for $name failed: $err" if $rc != 0;
	my $node;
	($node, $rc, $out, $err) = pitr_restore_node($name, args => [ $label, '--repo', $repo, '--standby' ],
		conf => "primary_conninfo = '" . $primary->connstr . " application_name=$name'\n");
	croak "walvault restore --standby for $name failed: $err" if $rc != 0;
	return $node;
}

=pod

=back

=cut



push @EXPORT, qw(
  lsn_value
  receive_status
  lose_primary
  recover_streamed_commit
);

=head1 WALVAULT RECEIVE HELPERS

=over

=item lsn_value(lsn)

An LSN ("16/B374D848") as a number.

=item receive_status(repo, slot)

What C<walvault receive --status> prints for slot in repo, as a hash reference
(slot, timeline, received, flushed, server, lag, last upload, receiver); undef
when it exits non-zero (no state yet).

=item lose_primary(node)

The primary is lost: its postmaster killed (SIGKILL), its data directory
deleted (two tests).

=item recover_streamed_commit(name, segment, restore args...)

C<walvault restore> with the args into a new node name, started: checks that
recovery finished, that the row 'marked' of table t is there, and that wal-fetch
served the streamed prefix of segment (four tests). Stops the node.

=back

=cut

sub lsn_value
{
	my ($lsn) = @_;
	my ($hi, $lo) = split m{/}, $lsn;
	return hex($hi) * 2**32 + hex($lo);
}

sub receive_status
{
	my ($repo, $slot) = @_;
	my ($rc, $out) = br_tool_run('receive', '--status', '--repo', $repo, '--slot', $slot);
	return undef if $rc != 0;
	my %st = $out =~ /^(\w[\w ]*?):\s+(.*)$/mg;
	return \%st;
}

sub lose_primary
{
	my ($node) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $pid = $node->{_pid};
	kill 'KILL', $pid;
	ok(wait_until(sub { !kill(0, $pid) }, 30), 'the primary is killed');
	$node->{_pid} = undef;
	usleep(500_000);    # its backends notice the postmaster's death
	File::Path::rmtree($node->data_dir);
	ok(!-e $node->data_dir, 'its data directory is deleted');
	return;
}

sub recover_streamed_commit
{
	my ($name, $segment, @args) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($restored, $rc, $out, $err) = pitr_restore_node($name, args => [@args]);
	is($rc, 0, 'walvault restore into a new directory exits 0') or diag($err);
	$restored->start;
	ok(wait_until(sub { $restored->safe_psql('postgres', 'SELECT NOT pg_is_in_recovery()') eq 't' }, 120),
		'the restored server finished recovery');
	is($restored->safe_psql('postgres', "SELECT count(*) FROM t WHERE what = 'marked'"), '1',
		'the row committed before the primary was lost is there');
	ok($restored->log_contains(qr/restored "\Q$segment\E" from its first \d+ bytes streamed by walvault receive/),
		"wal-fetch served the streamed prefix of $segment");
	$restored->stop;
	return;
}

1;
