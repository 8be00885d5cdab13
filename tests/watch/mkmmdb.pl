#!/usr/bin/perl
# mkmmdb.pl - write the two small MaxMind-format databases that
# tests/watch/geo.sh looks addresses up in, shaped like GeoLite2-Country
# (country.iso_code) and GeoLite2-ASN (autonomous_system_number,
# autonomous_system_organization), with Debian's
# libmaxmind-db-writer-perl.
#
#   perl mkmmdb.pl COUNTRY.mmdb ASN.mmdb
#
# The networks are documentation and private ranges (so the writer is
# told to keep reserved networks). The expected answers are written by
# hand in geo.sh: change both together.
use strict;
use warnings;
use MaxMind::DB::Writer::Tree;

my ($country_file, $asn_file) = @ARGV;
die "usage: mkmmdb.pl COUNTRY.mmdb ASN.mmdb\n" unless defined $asn_file;

my %types = (
	country => 'map',
	registered_country => 'map',
	iso_code => 'utf8_string',
	autonomous_system_number => 'uint32',
	autonomous_system_organization => 'utf8_string',
);

sub tree {
	my ($type) = @_;
	return MaxMind::DB::Writer::Tree->new(
		ip_version => 6,
		record_size => 24,
		database_type => $type,
		languages => ['en'],
		description => { en => "portmilter test $type" },
		map_key_type_callback => sub { $types{ $_[0] } },
		remove_reserved_networks => 0,
		alias_ipv6_to_ipv4 => 1,
	);
}

sub write_tree {
	my ($t, $file) = @_;
	open my $fh, '>:raw', $file or die "$file: $!\n";
	$t->write_tree($fh);
	close $fh or die "$file: $!\n";
}

my $c = tree('GeoLite2-Country');
$c->insert_network('192.0.2.0/24', { country => { iso_code => 'CZ' } });
$c->insert_network('198.51.100.0/25', { country => { iso_code => 'BR' } });
$c->insert_network('203.0.113.0/24',
	{ registered_country => { iso_code => 'JP' } });
$c->insert_network('2001:db8:1::/48', { country => { iso_code => 'DE' } });
$c->insert_network('2001:db8:2::/48', { country => { iso_code => 'US' } });
write_tree($c, $country_file);

my $a = tree('GeoLite2-ASN');
$a->insert_network('192.0.2.0/24', {
	autonomous_system_number => 64500,
	autonomous_system_organization => 'Test Net One' });
$a->insert_network('198.51.100.0/24', {
	autonomous_system_number => 4200000001,
	autonomous_system_organization => 'Test Net Two' });
$a->insert_network('2001:db8:1::/48', {
	autonomous_system_number => 64501,
	autonomous_system_organization => 'Test Net Six' });
write_tree($a, $asn_file);
