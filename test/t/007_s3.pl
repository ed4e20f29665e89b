# S3 archiving end to end, against a local s3rver over HTTP and over HTTPS with a private CA, checked only
# through the AWS CLI, as a DBA would:
#  - every file PostgreSQL marked archived has its object at the documented key; "aws s3 cp" and stock
#    "zstd -d" give back the pg_wal original byte for byte; the trailer records it; walvault_status()
#    agrees with pg_stat_archiver; identity.json names the cluster;
#  - objects larger than walvault.s3_part_size go up as multipart uploads and come back whole;
#  - failures (wrong access key, store down, missing bucket, untrusted certificate) are counted and
#    reported with the store's reason and a hint, write nothing, and archiving resumes by itself once
#    the cause is gone, without losing a file;
#  - a file offered again is idempotent on S3; different content under an archived name is refused and
#    the object stays as it was;
#  - a second cluster pointed at the same prefix is refused and writes nothing.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use WalvaultTest;
use S3rver;

my $http  = S3rver->new('http');
my $https = S3rver->new('https', tls => 1);
$_->start for ($http, $https);

# A cluster archiving to s3://walvault/PREFIX in the given store, with its own credentials file (the
# store's good keys). Not started. Returns the node and the credentials file.
sub s3_node
{
	my ($name, $s3, $prefix) = @_;
	my $node = walvault_node($name);
	my $creds = $s3->write_credentials($node->basedir . '/aws-credentials');
	$node->append_conf('postgresql.conf', $s3->walvault_conf($prefix, $creds));
	return ($node, $creds);
}

# Downloads the objects of the named WAL files with "aws s3 cp" and checks each (check_archived: at its
# documented key, "zstd -d" gives the pg_wal original back, trailer). Returns the trailers by name.
sub check_in_store
{
	my ($s3, $prefix, $node, $label, @names) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $dir = PostgreSQL::Test::Utils::tempdir('download');
	ok($s3->download_prefix($prefix, $dir, map { object_key($_) } @names),
		"$label: aws s3 cp downloads the objects of " . join(' ', @names));
	return { map { ($_ => check_archived($dir, $node, $_, "$label: $_")) } @names };
}

# Settings changed in postgresql.conf (value undef: back to the default), then reload and wait until the
# server shows them.
sub reconfigure
{
	my ($node, %settings) = @_;
	while (my ($name, $value) = each %settings)
	{
		$node->adjust_conf('postgresql.conf', $name, undef);
		$node->append_conf('postgresql.conf', "$name = '$value'") if defined $value;
	}
	$node->reload;
	for my $name (sort keys %settings)
	{
		my $want = $settings{$name};
		my $query = defined $want ? "SELECT setting = '$want' FROM pg_settings WHERE name = '$name'"
		  : "SELECT setting = boot_val FROM pg_settings WHERE name = '$name'";
		$node->poll_query_until('postgres', $query) or die "$name did not change at reload";
	}
	return;
}

my $crash_re = qr/terminated by signal|was terminated|all server processes terminated|server process \(PID \d+\) exited/;

# ---- 1. the foundation checks, over HTTP and over HTTPS with the generated CA ----
my %main;    # transport => { node, creds, prefix, s3 }
for my $s3 ($http, $https)
{
	my $t = $s3->tls ? 'https' : 'http';
	my $prefix = "clusters/main-$t";
	my $repo = $s3->repo($prefix);
	my ($node, $creds) = s3_node("main_$t", $s3, $prefix);
	$main{$t} = { node => $node, creds => $creds, prefix => $prefix, s3 => $s3, repo => $repo };
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION walvault');
	my $segsize = segment_size($node);

	$node->command_ok([ 'pgbench', '-i', '-s', '2', '-q', 'postgres' ], "$t: pgbench -i -s 2");
	my @switched = map { switch_wal($node) } 1 .. 3;
	my $backup_out = $node->safe_psql('postgres',
		"SELECT file_name || '.' || lpad(upper(to_hex(file_offset)), 8, '0') || '.backup' "
		  . "FROM pg_walfile_name_offset(pg_backup_start('walvault-007', true));\n"
		  . "SELECT pg_backup_stop() IS NOT NULL");
	my $backup_file = (split /\n/, $backup_out)[0];
	push @switched, switch_wal($node);

	ok(wait_for_no_ready($node), "$t: archiver catches up, no .ready file left");
	my @done = done_files($node);
	ok((grep { $_ eq $switched[-1] } @done), "$t: last switched segment $switched[-1] marked archived");
	ok((grep { $_ eq $backup_file } @done), "$t: backup history file $backup_file marked archived");
	ok(wait_until(
			sub {
				my $pg = archiver_stats($node);
				return $pg->{archived_count} == @done && walvault_status($node)->{archived_count} == @done;
			}),
		"$t: pg_stat_archiver and walvault_status() count every .done file (" . scalar(@done) . ')');

	# What is in the bucket: identity.json and one object per archived file, at its documented key.
	my $listing = $s3->list("$prefix/");
	is_deeply([ sort map { substr($_, length "$prefix/") } keys %$listing ],
		[ sort('identity.json', map { object_key($_) } @done) ],
		"$t: aws lists identity.json and one object per archived file at its documented key, nothing else");

	my $dir = PostgreSQL::Test::Utils::tempdir("prefix_$t");
	ok($s3->download_prefix($prefix, $dir), "$t: aws s3 cp --recursive downloads the prefix");
	my ($bytes_in, $bytes_out) = (0, 0);
	my $trailer;
	for my $name (@done)
	{
		$trailer = check_archived($dir, $node, $name, "$t: $name");
		$bytes_in  += -s $node->data_dir . "/pg_wal/$name";
		$bytes_out += $listing->{"$prefix/" . object_key($name)}{size} // 0;
	}
	is($trailer && $trailer->{compression}, 'zstd:3', "$t: trailer says zstd:3, the default");
	my @segments = grep { /^[0-9A-F]{24}$/ } @done;
	cmp_ok(scalar(@segments), '>=', 4, "$t: several segments archived (" . scalar(@segments) . ')');

	my $head = $s3->head("$prefix/" . object_key($switched[-1]));
	is($head && $head->{ContentLength}, -s object_path($dir, $switched[-1]),
		"$t: head-object: ContentLength of $switched[-1] is the size downloaded");

	my $sysid = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
	my $identity = JSON::PP->new->decode(slurp_file("$dir/identity.json"));
	is($identity->{system_identifier}, $sysid, "$t: identity.json: system_identifier of this cluster ($sysid)");
	is($identity->{wal_segment_size}, $segsize, "$t: identity.json: wal_segment_size");

	my $st = walvault_status($node);
	my $pg = archiver_stats($node);
	is($st->{repo},              $repo,                    "$t: walvault_status: repo");
	is($st->{archived_count},    $pg->{archived_count},    "$t: walvault_status: archived_count = pg_stat_archiver");
	is($st->{last_archived_wal}, $pg->{last_archived_wal}, "$t: walvault_status: last_archived_wal = pg_stat_archiver");
	is($st->{failed_count},      0,                        "$t: walvault_status: failed_count 0");
	is($pg->{failed_count},      0,                        "$t: pg_stat_archiver: failed_count 0");
	is($st->{last_error},        undef,                    "$t: walvault_status: no last_error");
	is($st->{bytes_in},          $bytes_in,                "$t: walvault_status: bytes_in = size of the originals");
	is($st->{bytes_out},         $bytes_out,               "$t: walvault_status: bytes_out = size of the objects listed");
	is($st->{pending_count},     0,                        "$t: walvault_status: pending_count 0");
	ok(!$node->log_contains(qr/WARNING:  could not archive/), "$t: no archive failure in the server log");
}

# ---- 2. multipart uploads: 5MB parts, no compression, so each ~16 MiB object goes up in 4 parts ----
{
	my ($node, $prefix) = @{ $main{http} }{qw(node prefix)};
	my $segsize = segment_size($node);
	reconfigure($node, 'walvault.s3_part_size' => '5', 'walvault.compression' => 'none');
	my $offset = $http->log_offset;
	my @segments = make_segments($node, 3, 'random');
	ok(wait_for_done($node, @segments), 'multipart: segments archived: ' . join(' ', @segments));

	my $stored = $http->stored_since($offset);
	is_deeply([ sort @{ $stored->{objects} } ], [ sort map { "$prefix/" . object_key($_) } @segments ],
		'multipart: the store stored exactly the objects of these segments');
	is_deeply([ sort @{ $stored->{part_numbers} } ], [ sort((1 .. 4) x @segments) ],
		'multipart: each went up in parts 1 to 4');
	is_deeply([ $http->multipart_uploads_in_progress ], [], 'multipart: no upload left open in the store');

	my $listing = $http->list("$prefix/");
	for my $name (@segments)
	{
		my $size = $listing->{ "$prefix/" . object_key($name) }{size} // 0;
		ok($size > $segsize && $size < $segsize * 1.01,
			"multipart: $name object ($size bytes) is a whole uncompressed segment");
	}
	my $meta = check_in_store($http, $prefix, $node, 'multipart', @segments);
	is_deeply([ map { $meta->{$_} && $meta->{$_}{compression} } @segments ], [ ('none') x @segments ],
		"multipart: trailers say compression 'none'");

	reconfigure($node, 'walvault.s3_part_size' => undef, 'walvault.compression' => undef);
}

# ---- 3, 4. failures: counted, reported, nothing written; archiving resumes once the cause is gone ----
# (No wrong-secret case: s3rver 3.7.1 checks the access key id but not SigV4 signatures.)
my $wrong_secret = 'wrongSecret-' . join('', map { ('a' .. 'z')[ rand 26 ] } 1 .. 16);
my @scenarios = (
	{
		name   => 'wrong access key',
		t      => 'http',
		break  => sub {
			$http->write_credentials($main{http}{creds}, access_key => 'WRONGKEY', secret_key => $wrong_secret);
		},
		repair => sub { $http->write_credentials($main{http}{creds}) },
		error  => qr/InvalidAccessKeyId/,
		detail => qr/The AWS Access Key Id you provided does not exist/,
		hint   => qr/Check the credentials/,
	},
	{
		name   => 'store down',
		t      => 'http',
		break  => sub { $http->stop },
		repair => sub { $http->start },
		error  => qr/Failed to connect|Couldn't connect/,
		detail => qr/\b127\.0\.0\.1\b\D+\b${\ $http->port }\b/,    # curl: "to 127.0.0.1 port N"
		hint   => qr/Check walvault\.s3_endpoint/,
	},
	{
		name   => 'no such bucket',
		t      => 'http',
		repo   => 's3://no-such-bucket/clusters/main-http',
		break  => sub { reconfigure($main{http}{node}, 'walvault.repo' => 's3://no-such-bucket/clusters/main-http') },
		repair => sub { reconfigure($main{http}{node}, 'walvault.repo' => $main{http}{repo}) },
		error  => qr/NoSuchBucket/,
		detail => qr/The specified bucket does not exist/,
		hint   => qr/bucket/,
	},
	{
		name   => 'untrusted certificate (walvault.s3_ca_file not set)',
		t      => 'https',
		break  => sub { reconfigure($main{https}{node}, 'walvault.s3_ca_file' => undef) },
		repair => sub { reconfigure($main{https}{node}, 'walvault.s3_ca_file' => $https->ca_file) },
		error  => qr/certificate/i,
		detail => qr/SSL certificate problem/,
		hint   => qr/Check walvault\.s3_ca_file/,
	});

for my $sc (@scenarios)
{
	my ($name, $error, $hint) = @{$sc}{qw(name error hint)};
	my ($node, $s3, $prefix, $repo) = @{ $main{ $sc->{t} } }{qw(node s3 prefix repo)};
	my $failing_repo = $sc->{repo} // $repo;
	my $status_dir = $node->data_dir . '/pg_wal/archive_status';
	my $before = walvault_status($node);
	my $pg_before = archiver_stats($node);
	my @keys_before = $s3->keys_under("$prefix/");
	my @store_before = $s3->store_listing;
	my @buckets_before = $s3->buckets;
	my $s3_offset = $s3->log_offset;
	my $log_offset = -s $node->logfile;

	$sc->{break}->();
	my $seg = switch_wal($node);
	my $st = wait_for_status($node,
		sub { $_[0]{failed_count} > $before->{failed_count} && ($_[0]{last_failed_wal} // '') eq $seg });
	ok($st, "$name: archiving of $seg fails, failed_count rises");
	like($st && $st->{last_error}, $error, "$name: last_error gives the reason");
	like($st && $st->{last_error}, $sc->{detail}, "$name: last_error has the store's or curl's own words");
	like($st && $st->{last_error}, qr/^could not archive "\Q$seg\E" to "\Q$failing_repo\E": /,
		"$name: last_error names the file and the repository");
	is($st && $st->{archived_count}, $before->{archived_count}, "$name: archived_count unchanged");
	ok(wait_until(sub { archiver_stats($node)->{failed_count} > $pg_before->{failed_count} }),
		"$name: pg_stat_archiver counts the failure");
	ok($node->log_contains(
			qr/WARNING:  could not archive "\Q$seg\E" to "\Q$failing_repo\E": [^\n]*$error[^\n]*\n[^\n]*HINT:  [^\n]*$hint/,
			$log_offset),
		"$name: server log has the WARNING with the reason and the HINT");
	# PostgreSQL tries a file three times, then waits (up to a minute) for something to wake it up.
	ok(wait_until(sub { $node->log_contains(qr/archiving write-ahead log file "\Q$seg\E" failed too many times/, $log_offset) }),
		"$name: PostgreSQL tried $seg three times and waits");
	ok(-e "$status_dir/$seg.ready" && !-e "$status_dir/$seg.done", "$name: $seg stays .ready");
	cmp_ok(walvault_status($node)->{pending_count}, '>=', 1, "$name: pending_count counts it");
	is_deeply([ $s3->store_listing ], \@store_before,
		"$name: the store holds exactly what it held: nothing of $seg, nothing rewritten, no upload started");
	is_deeply($s3->stored_since($s3_offset), { objects => [], parts => 0, part_numbers => [] },
		"$name: the store's log shows nothing stored");
	is_deeply([ $s3->buckets ], \@buckets_before, "$name: no bucket created");
	my $archiver = archiver_pid($node);
	ok($archiver ne '', "$name: pg_stat_activity shows an archiver (pid $archiver) while failing");

	$sc->{repair}->();
	my $wake = switch_wal($node);    # wakes the archiver up
	ok(wait_for_done($node, $seg, $wake), "$name: once repaired, archiving resumes: $seg and $wake archived");
	$st = wait_for_status($node, sub { $_[0]{pending_count} == 0 && ($_[0]{last_archived_wal} // '') eq $wake });
	ok($st, "$name: pending_count back to 0, last_archived_wal $wake");
	is_deeply([ $s3->keys_under("$prefix/") ], [ sort(@keys_before, object_key($seg), object_key($wake)) ],
		"$name: the bucket gained exactly the objects of $seg and $wake");
	check_in_store($s3, $prefix, $node, $name, $seg, $wake);

	is($node->safe_psql('postgres', 'SELECT 1'), '1', "$name: the cluster accepts queries");
	ok(archiver_pid($node) ne '', "$name: pg_stat_activity shows an archiver");
	ok(!$node->log_contains($crash_re, $log_offset), "$name: no server process crashed");
}
ok(!$main{http}{node}->log_contains(qr/\Q$wrong_secret\E/), 'the secret key never appears in the server log');

# ---- 5. idempotence on S3 ----
{
	my ($node, $prefix, $repo) = @{ $main{http} }{qw(node prefix repo)};
	my $segsize = segment_size($node);
	my $status_dir = $node->data_dir . '/pg_wal/archive_status';

	# Offers a file in pg_wal to the archiver again: .done -> .ready, then a new segment to wake it up.
	my $reoffer = sub {
		my ($name) = @_;
		unlink("$status_dir/$name.done");
		append_to_file("$status_dir/$name.ready", '');
		return switch_wal($node);
	};

	# The same content again: success, the object not rewritten.
	my ($again) = make_segments($node, 1, 'hex');
	ok(wait_for_done($node, $again), "idempotence: $again archived");
	my $key = "$prefix/" . object_key($again);
	my $head_before = $http->head($key);
	my $before = walvault_status($node);
	my $offset = $http->log_offset;
	my $wake = $reoffer->($again);
	ok(wait_for_done($node, $again, $wake), "idempotence: $again offered again with identical content: archived");
	my $st = wait_for_status($node, sub { $_[0]{archived_count} >= $before->{archived_count} + 2 });
	ok($st, 'idempotence: archived_count rose by 2');
	is($st && $st->{failed_count}, $before->{failed_count}, 'idempotence: failed_count did not rise');
	is_deeply($http->stored_since($offset)->{objects}, [ "$prefix/" . object_key($wake) ],
		"idempotence: the store stored only $wake, not $again again");
	is_deeply($http->head($key), $head_before, "idempotence: $again object unchanged (ETag, length, time)");
	check_in_store($http, $prefix, $node, 'idempotence', $again);

	# Different content under an archived name: refused, the object stays.
	my $crafted = '0000000A00000000000000F0';
	my $crafted_path = $node->data_dir . "/pg_wal/$crafted";
	my $crafted_key = "$prefix/" . object_key($crafted);
	my $original;
	open my $rnd, '<:raw', '/dev/urandom' or die "could not open /dev/urandom: $!";
	read($rnd, $original, $segsize) == $segsize or die 'short read from /dev/urandom';
	close $rnd;
	my $write_crafted = sub {
		open my $fh, '>:raw', $crafted_path or die "could not write $crafted_path: $!";
		print $fh $_[0];
		close $fh or die "could not write $crafted_path: $!";
	};

	$write_crafted->($original);
	my ($original_sha) = file_sha256($crafted_path);
	append_to_file("$status_dir/$crafted.ready", '');
	$wake = switch_wal($node);
	ok(wait_for_done($node, $crafted, $wake), "idempotence: crafted $crafted archived once");
	check_in_store($http, $prefix, $node, 'crafted', $crafted);
	my $crafted_head = $http->head($crafted_key);
	ok($crafted_head, "idempotence: head-object finds $crafted");

	my $changed = $original;
	substr($changed, $segsize / 2, 4096) = 'X' x 4096;
	$write_crafted->($changed);
	my ($changed_sha) = file_sha256($crafted_path);
	$before = walvault_status($node);
	$offset = $http->log_offset;
	my $log_offset = -s $node->logfile;
	my $next = $reoffer->($crafted);
	$st = wait_for_status($node,
		sub { $_[0]{failed_count} > $before->{failed_count} && ($_[0]{last_failed_wal} // '') eq $crafted });
	ok($st, "idempotence: $crafted with changed content fails");
	like($st && $st->{last_error}, qr/already archived with different content/,
		'idempotence: last_error: already archived with different content');
	like($st && $st->{last_error}, qr/archived sha256 \Q$original_sha\E/, 'idempotence: last_error shows the archived sha256');
	like($st && $st->{last_error}, qr/local sha256 \Q$changed_sha\E/, 'idempotence: last_error shows the local sha256');
	ok($node->log_contains(
			qr/WARNING:  could not archive "\Q$crafted\E" to "\Q$repo\E": [^\n]*already archived with different content[^\n]*\n[^\n]*HINT:  /,
			$log_offset),
		'idempotence: server log has the WARNING and a HINT');
	ok(wait_for_done($node, $next), "idempotence: $next archived meanwhile");
	ok(-e "$status_dir/$crafted.ready", "idempotence: $crafted stays .ready");
	is_deeply($http->head($crafted_key), $crafted_head, 'idempotence: the object in the bucket is unchanged');
	ok(!grep({ $_ eq $crafted_key } @{ $http->stored_since($offset)->{objects} }),
		'idempotence: the store never stored it again');
	my $meta = check_in_store($http, $prefix, $node, 'crafted, refused', $next);
	my $dir = PostgreSQL::Test::Utils::tempdir('crafted');
	ok($http->download($crafted_key, "$dir/object"), 'idempotence: aws s3 cp downloads the crafted object');
	is((decode_object("$dir/object"))[0], $original_sha, 'idempotence: the object still restores the original bytes');

	# The original back: success.
	$write_crafted->($original);
	$before = walvault_status($node);
	my $after = switch_wal($node);
	ok(wait_for_done($node, $crafted, $after), "idempotence: $crafted archived once its original bytes are back");
	$st = wait_for_status($node, sub { $_[0]{pending_count} == 0 && $_[0]{archived_count} >= $before->{archived_count} + 2 });
	ok($st, 'idempotence: pending_count 0, archived_count rose');
	is_deeply($http->head($crafted_key), $crafted_head, 'idempotence: the object still unchanged');
	unlink($crafted_path, "$status_dir/$crafted.ready", "$status_dir/$crafted.done");
	ok(!-e $crafted_path, 'idempotence: crafted file removed');
}

# ---- 6. a second cluster pointed at the same bucket and prefix: refused, writes nothing ----
{
	my ($first, $prefix, $repo) = @{ $main{http} }{qw(node prefix repo)};
	my $first_sysid = $first->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
	ok(wait_for_no_ready($first), 'identity: first cluster has archived everything');
	$first->stop;    # nothing but the second cluster could change the store from now on

	my $listing_before = $http->list("$prefix/");
	my @store_before = $http->store_listing;
	my $offset = $http->log_offset;

	my ($second) = s3_node('second', $http, $prefix);
	$second->start;
	$second->safe_psql('postgres', 'CREATE EXTENSION walvault');
	my $second_sysid = $second->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
	isnt($second_sysid, $first_sysid, 'identity: the two clusters have different system identifiers');
	my @segments = map { switch_wal($second) } 1 .. 2;
	my $st = wait_for_status($second, sub { $_[0]{failed_count} > 0 });
	ok($st, 'identity: second cluster: archiving fails');
	is($st && $st->{archived_count}, 0, 'identity: second cluster: nothing archived');
	like($st && $st->{last_error}, qr/belongs to database system \Q$first_sysid\E\b/,
		'identity: last_error: the repository belongs to the first database system');
	like($st && $st->{last_error}, qr/\b\Q$second_sysid\E\b/, 'identity: last_error names this database system too');
	ok($second->log_contains(
			qr/WARNING:  could not archive "\Q$segments[0]\E" to "\Q$repo\E": [^\n]*belongs to database system \Q$first_sysid\E\b[^\n]*\n[^\n]*HINT:  /),
		'identity: server log has the WARNING and a HINT');
	ok(wait_until(sub { $second->log_contains(qr/failed too many times/) }), 'identity: PostgreSQL gave up for now after retries');
	is_deeply([ ready_files($second) ], [ sort @segments ], 'identity: second cluster: its segments stay .ready');
	is_deeply($http->list("$prefix/"), $listing_before, 'identity: aws lists the same objects, unchanged');
	is_deeply([ $http->store_listing ], \@store_before, 'identity: the store holds exactly what it held');
	is_deeply($http->stored_since($offset), { objects => [], parts => 0, part_numbers => [] },
		"identity: the store's log shows nothing stored");
	$second->stop;
}

$main{https}{node}->stop;
$_->stop for ($http, $https);
done_testing();
