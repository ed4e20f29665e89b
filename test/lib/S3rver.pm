=pod

=head1 NAME

S3rver - a local S3 store (s3rver) and an independent S3 client (the AWS CLI) for the walvault TAP tests

=head1 SYNOPSIS

  use S3rver;

  my $s3 = S3rver->new('plain');                 # or S3rver->new('tls', tls => 1)
  $s3->start;
  my $creds = $s3->write_credentials("$dir/credentials");
  $node->append_conf('postgresql.conf', $s3->walvault_conf('clusters/main', $creds));
  ...
  my $objects = $s3->list('clusters/main/');     # { key => { size, etag, last_modified } }
  ok($s3->download_prefix('clusters/main/', $dir), 'downloaded');
  $s3->stop;                                     # also done at exit

=head1 DESCRIPTION

One s3rver 3.7.1 (installed by scripts/deps.sh below WALVAULT_NODE_DIR, default
/opt/walvault-test) per object, on 127.0.0.1 and a free port, over HTTP or over
HTTPS with a freshly generated self-signed certificate for 127.0.0.1. The
server runs as a child of the test (no wrapper), in a data directory that
survives stop/start, so a stopped store can come back with its objects, on
the same port. Its request log (s3rver's info log) goes to the test's log
directory as s3rver_NAME.log; the tests read from it what a store operator
would: which objects and parts were stored.

Its only account is S3RVER / S3RVER. s3rver 3.7.1 rejects an unknown access
key id (InvalidAccessKeyId) but does not check SigV4 signatures (its code:
"Signature version 4 calculation is unimplemented"), so a wrong secret key
goes unnoticed by it: the tests cannot check walvault's signing against it.

Everything the tests look at in the store goes through the AWS CLI
(/usr/bin/aws), with its own HOME and only the S3RVER credentials in its
environment: nothing of walvault's own S3 code is used to check walvault.

=cut

package S3rver;

use strict;
use warnings;

use Carp;
use File::Find;
use File::Path qw(make_path);
use IO::Socket::INET;
use IPC::Run;
use JSON::PP;
use POSIX qw(WNOHANG);
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

our $ACCESS_KEY = 'S3RVER';
our $SECRET_KEY = 'S3RVER';
our $REGION     = 'us-east-1';
our $AWS        = '/usr/bin/aws';
our $OPENSSL    = 'openssl';

my $NODE_DIR = $ENV{WALVAULT_NODE_DIR} // '/opt/walvault-test';
my $S3RVER_JS = "$NODE_DIR/node_modules/s3rver/bin/s3rver.js";
my $START_TIMEOUT = 20;    # seconds until the port must accept connections
my $STOP_TIMEOUT  = 10;    # seconds after SIGTERM before SIGKILL

# Every server started and not yet stopped, for the END block.
my %running;

=pod

=head1 METHODS

=over

=item S3rver->new(name, bucket => 'walvault', tls => 0)

A store, not started: its data directory, its free port and, with tls, a key
and a self-signed certificate for CN=127.0.0.1 with subjectAltName IP:127.0.0.1
(which is also the CA file to trust).

=cut

sub new
{
	my ($class, $name, %params) = @_;
	croak "s3rver is not installed: $S3RVER_JS (run scripts/deps.sh)" unless -f $S3RVER_JS;
	my $base = PostgreSQL::Test::Utils::tempdir("s3rver_$name");
	my $self = bless {
		name     => $name,
		bucket   => $params{bucket} // 'walvault',
		tls      => $params{tls} ? 1 : 0,
		base     => $base,
		data_dir => "$base/data",
		aws_home => "$base/aws-home",
		logfile  => "$PostgreSQL::Test::Utils::log_path/s3rver_$name.log",
		port     => free_port(),
		pid      => undef,
	}, $class;
	make_path($self->{data_dir}, $self->{aws_home});
	unlink $self->{logfile};

	if ($self->{tls})
	{
		$self->{key}  = "$base/key.pem";
		$self->{cert} = "$base/cert.pem";
		my ($out, $err) = ('', '');
		IPC::Run::run(
			[
				$OPENSSL, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
				'-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
				'-keyout', $self->{key}, '-out', $self->{cert}
			],
			'<', \undef, '>', \$out, '2>', \$err)
		  or croak "openssl could not make a certificate: $err";
	}
	return $self;
}

=pod

=item free_port()

A TCP port on 127.0.0.1 that nothing listens on right now (bound to port 0,
then released).

=cut

sub free_port
{
	my $sock = IO::Socket::INET->new(
		LocalAddr => '127.0.0.1',
		LocalPort => 0,
		Proto     => 'tcp',
		Listen    => 1,
		ReuseAddr => 1) or croak "could not find a free port: $!";
	my $port = $sock->sockport;
	close $sock;
	return $port;
}

=pod

=item name, bucket, port, data_dir, logfile, tls, ca_file, endpoint, pid

Accessors. endpoint is scheme://127.0.0.1:port; ca_file is the certificate
(undef without tls).

=cut

sub name     { return $_[0]{name}; }
sub bucket   { return $_[0]{bucket}; }
sub port     { return $_[0]{port}; }
sub data_dir { return $_[0]{data_dir}; }
sub logfile  { return $_[0]{logfile}; }
sub tls      { return $_[0]{tls}; }
sub ca_file  { return $_[0]{cert}; }
sub pid      { return $_[0]{pid}; }

sub endpoint
{
	my ($self) = @_;
	return ($self->{tls} ? 'https' : 'http') . "://127.0.0.1:$self->{port}";
}

=pod

=item start()

Starts s3rver on the object's port and data directory (creating the bucket
unless it exists) and waits until the port accepts connections. Dies if it
does not within 20 s or if s3rver exits.

=cut

sub start
{
	my ($self) = @_;
	croak "s3rver $self->{name} is already running (pid $self->{pid})" if $self->{pid};
	my @cmd = (
		'node', '--openssl-legacy-provider', $S3RVER_JS,
		'-d', $self->{data_dir}, '-a', '127.0.0.1', '-p', $self->{port},
		($self->{tls} ? ('--key', $self->{key}, '--cert', $self->{cert}) : ()),
		'--configure-bucket', $self->{bucket});
	open my $log, '>>', $self->{logfile} or croak "could not open $self->{logfile}: $!";
	print $log "# " . localtime() . ": starting @cmd\n";
	close $log;
	my $offset = -s $self->{logfile};

	my $pid = fork();
	croak "fork failed: $!" unless defined $pid;
	if ($pid == 0)
	{
		open STDIN, '<', '/dev/null';
		open STDOUT, '>>', $self->{logfile};
		open STDERR, '>&', \*STDOUT;
		{ exec @cmd };
		print STDERR "could not run node: $!\n";
		POSIX::_exit(127);
	}
	$self->{pid} = $pid;
	$self->{owner} = $$;
	$running{$pid} = $self;
	note("s3rver $self->{name}: pid $pid, " . $self->endpoint);

	# Ready when our s3rver says it listens and the port accepts connections (a port that accepts while
	# s3rver has not said so would be somebody else's).
	my $deadline = time() + $START_TIMEOUT;
	while (1)
	{
		my $log = PostgreSQL::Test::Utils::slurp_file($self->{logfile});
		if (substr($log, $offset) =~ /S3rver listening on 127\.0\.0\.1:\Q$self->{port}\E\b/)
		{
			my $sock =
			  IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->{port}, Proto => 'tcp');
			if ($sock)
			{
				close $sock;
				last;
			}
		}
		if (waitpid($pid, WNOHANG) == $pid)
		{
			my $status = $?;
			delete $running{$pid};
			$self->{pid} = undef;
			croak "s3rver $self->{name} exited at start (status $status): "
			  . PostgreSQL::Test::Utils::slurp_file($self->{logfile});
		}
		if (time() > $deadline)
		{
			$self->stop;
			croak "s3rver $self->{name} did not accept connections on port $self->{port} within $START_TIMEOUT s";
		}
		usleep(100_000);
	}
	return;
}

=pod

=item stop()

Stops the server by its PID (SIGTERM, SIGKILL after 10 s) and waits until it
has exited. Does nothing if it is not running.

=cut

sub stop
{
	my ($self) = @_;
	my $pid = $self->{pid};
	return unless $pid;
	return if defined $self->{owner} && $self->{owner} != $$;    # a forked child: not ours to stop
	kill 'TERM', $pid;
	my $deadline = time() + $STOP_TIMEOUT;
	while (waitpid($pid, WNOHANG) == 0)
	{
		if (time() > $deadline)
		{
			kill 'KILL', $pid;
			waitpid($pid, 0);
			last;
		}
		usleep(50_000);
	}
	delete $running{$pid};
	$self->{pid} = undef;
	note("s3rver $self->{name}: stopped (pid $pid)");
	return;
}

END
{
	local $?;
	$_->stop for values %running;
}

=pod

=item write_credentials(path, access_key => 'S3RVER', secret_key => 'S3RVER')

Writes an AWS shared-credentials file with a [default] profile (mode 0600),
rewriting it in place if it exists. Returns path.

=cut

sub write_credentials
{
	my ($self, $path, %params) = @_;
	my $key    = $params{access_key} // $ACCESS_KEY;
	my $secret = $params{secret_key} // $SECRET_KEY;
	open my $fh, '>', $path or croak "could not write $path: $!";
	print $fh "[default]\naws_access_key_id = $key\naws_secret_access_key = $secret\n";
	close $fh or croak "could not write $path: $!";
	chmod 0600, $path;
	return $path;
}

=pod

=item walvault_conf(prefix, credentials_file)

postgresql.conf lines that point walvault at s3://BUCKET/prefix in this
store: repo, endpoint, region, credentials file and, with tls, the CA file.

=cut

sub walvault_conf
{
	my ($self, $prefix, $credentials) = @_;
	my $conf = "walvault.repo = '" . $self->repo($prefix) . "'\n";
	$conf .= "walvault.s3_endpoint = '" . $self->endpoint . "'\n";
	$conf .= "walvault.s3_region = '$REGION'\n";
	$conf .= "walvault.s3_credentials_file = '$credentials'\n" if defined $credentials;
	$conf .= "walvault.s3_ca_file = '$self->{cert}'\n" if $self->{tls};
	return $conf;
}

=pod

=item repo(prefix)

s3://BUCKET/prefix

=cut

sub repo
{
	my ($self, $prefix) = @_;
	return "s3://$self->{bucket}/$prefix";
}

=pod

=item aws(args...)

Runs the AWS CLI against this store, as S3RVER, with its own HOME and
without any other AWS setting from the environment. Returns (exit code,
stdout, stderr).

=cut

sub aws
{
	my ($self, @args) = @_;
	my %env = (
		AWS_ACCESS_KEY_ID         => $ACCESS_KEY,
		AWS_SECRET_ACCESS_KEY     => $SECRET_KEY,
		AWS_REGION                => $REGION,
		AWS_EC2_METADATA_DISABLED => 'true',
		AWS_PAGER                 => '',
		HOME                      => $self->{aws_home});
	local @ENV{ keys %env } = values %env;
	delete local @ENV{
		qw(AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE
		  AWS_DEFAULT_REGION AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 AWS_CA_BUNDLE)
	};
	my @cmd = ($AWS, '--endpoint-url', $self->endpoint, ($self->{tls} ? ('--ca-bundle', $self->{cert}) : ()), @args);
	my ($out, $err) = ('', '');
	IPC::Run::run(\@cmd, '<', \undef, '>', \$out, '2>', \$err);
	my $rc = $? >> 8;
	if ($rc != 0)
	{
		note("aws @args: exit code $rc: $err");
	}
	return ($rc, $out, $err);
}

=pod

=item list(prefix)

Every object whose key starts with prefix (ListObjectsV2 through the AWS
CLI, all pages), as { key => { size, etag, last_modified } }. Dies if the
listing fails.

=cut

sub list
{
	my ($self, $prefix) = @_;
	my ($rc, $out, $err) =
	  $self->aws('s3api', 'list-objects-v2', '--bucket', $self->{bucket}, '--prefix', $prefix, '--output', 'json');
	croak "aws s3api list-objects-v2 failed: $err" if $rc != 0;
	my %objects;
	return \%objects if $out !~ /\S/;
	my $answer = JSON::PP->new->decode($out);
	for my $o (@{ $answer->{Contents} // [] })
	{
		$objects{ $o->{Key} } = { size => $o->{Size}, etag => $o->{ETag}, last_modified => $o->{LastModified} };
	}
	return \%objects;
}

=pod

=item keys_under(prefix)

The keys of list(prefix), relative to prefix, sorted.

=cut

sub keys_under
{
	my ($self, $prefix) = @_;
	return sort map { substr($_, length $prefix) } keys %{ $self->list($prefix) };
}

=pod

=item head(key)

HeadObject through the AWS CLI: the answer as a hash (ContentLength, ETag,
LastModified, ...), or undef if the object does not exist (or the request
failed).

=cut

sub head
{
	my ($self, $key) = @_;
	my ($rc, $out) = $self->aws('s3api', 'head-object', '--bucket', $self->{bucket}, '--key', $key, '--output', 'json');
	return undef if $rc != 0;
	return JSON::PP->new->decode($out);
}

=pod

=item download(key, file), download_prefix(prefix, dir [, keys...])

"aws s3 cp" of one object to file, or of every object under prefix (or only
those of the given keys, relative to prefix) to the same relative paths below
dir. True on success.

=cut

sub download
{
	my ($self, $key, $file) = @_;
	my ($rc) = $self->aws('s3', 'cp', '--only-show-errors', "s3://$self->{bucket}/$key", $file);
	return $rc == 0;
}

sub download_prefix
{
	my ($self, $prefix, $dir, @keys) = @_;
	$prefix .= '/' unless $prefix =~ m{/$};
	my @filters = @keys ? ('--exclude', '*', map { ('--include', $_) } @keys) : ();
	my ($rc) =
	  $self->aws('s3', 'cp', '--recursive', '--only-show-errors', "s3://$self->{bucket}/$prefix", $dir, @filters);
	return $rc == 0;
}

=pod

=item store_listing()

Every file below the store's bucket directory (objects, their metadata and
s3rver's multipart upload area) as a sorted list of "path size mtime inode":
two equal listings mean the store holds exactly what it held, with nothing
rewritten and no multipart upload started or left behind.

=cut

sub store_listing
{
	my ($self) = @_;
	my $root = "$self->{data_dir}/$self->{bucket}";
	my @entries;
	find(
		{
			no_chdir => 1,
			wanted   => sub {
				my @st = Time::HiRes::stat($File::Find::name);
				my $rel = substr($File::Find::name, length $root);
				push @entries, -d $File::Find::name ? "$rel/" : "$rel $st[7] $st[9] $st[1]";
			}
		},
		$root);
	return sort @entries;
}

=pod

=item buckets()

The buckets the store holds (directories of its data directory), sorted.

=cut

sub buckets
{
	my ($self) = @_;
	return sort grep { !/^\.\.?$/ && -d "$self->{data_dir}/$_" }
	  PostgreSQL::Test::Utils::slurp_dir($self->{data_dir});
}

=pod

=item multipart_uploads_in_progress()

The multipart uploads the store has started and not completed or aborted
(entries of s3rver's upload area).

=cut

sub multipart_uploads_in_progress
{
	my ($self) = @_;
	my $dir = "$self->{data_dir}/$self->{bucket}/._S3rver_uploads";
	return () unless -d $dir;
	return grep { !/^\.\.?$/ } PostgreSQL::Test::Utils::slurp_dir($dir);
}

=pod

=item log_offset(), stored_since(offset)

The current size of the request log, and what the store reports having
stored since that offset: { objects => [ keys, in order ], parts => number of
multipart parts }.

=cut

sub log_offset
{
	my ($self) = @_;
	return -s $self->{logfile} // 0;
}

sub stored_since
{
	my ($self, $offset) = @_;
	my $log = PostgreSQL::Test::Utils::slurp_file($self->{logfile});
	$log = substr($log, $offset // 0);
	$log =~ s/\e\[[0-9;]*m//g;    # s3rver colours its log lines
	my @objects = $log =~ /^info: Stored object "([^"]+)" in bucket "\Q$self->{bucket}\E" successfully$/mg;
	my @parts   = $log =~ /^info: Stored part (\d+) of \S+ in bucket "\Q$self->{bucket}\E" successfully$/mg;
	return { objects => \@objects, parts => scalar(@parts), part_numbers => \@parts };
}

=pod

=back

=cut

1;
