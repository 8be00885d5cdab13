#!/usr/bin/perl
# mkgeo.pl - the country database tests/watch/detect.sh's geo cases look
# the fixture's addresses up in (tests/watch/fixture.sql), with Debian's
# libmaxmind-db-writer-perl, shaped like GeoLite2-Country:
#   10.0-10.4.0.0/16  DE FR NL US BR  (the hijacked account's 40 addresses)
#   198.51.100.0/24   CZ              (its history)
#   192.0.2.0/24, 203.0.113.0/24  CZ (the normal user at home, its phone)
#   198.18.0.0/15     IT              (the normal user's trip)
#
#   perl mkgeo.pl COUNTRY.mmdb
use strict;
use warnings;
use MaxMind::DB::Writer::Tree;

my ($file) = @ARGV;
die "usage: mkgeo.pl COUNTRY.mmdb\n" unless defined $file;
my $t = MaxMind::DB::Writer::Tree->new(
	ip_version => 6, record_size => 24,
	database_type => 'GeoLite2-Country', languages => ['en'],
	description => { en => 'portmilter watch test' },
	map_key_type_callback => sub {
		{ country => 'map', iso_code => 'utf8_string' }->{ $_[0] } },
	remove_reserved_networks => 0, alias_ipv6_to_ipv4 => 1);
my @hijack = qw(DE FR NL US BR);
$t->insert_network("10.$_.0.0/16", { country => { iso_code => $hijack[$_] } })
	for 0 .. 4;
$t->insert_network($_, { country => { iso_code => 'CZ' } })
	for qw(198.51.100.0/24 192.0.2.0/24 203.0.113.0/24);
$t->insert_network('198.18.0.0/15', { country => { iso_code => 'IT' } });
open my $fh, '>:raw', $file or die "$file: $!\n";
$t->write_tree($fh);
close $fh or die "$file: $!\n";
