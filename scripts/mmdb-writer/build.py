"""Writes a tiny GeoIP2-Country database for the firewall's country-rule tests.

usage: python build.py OUT.mmdb '{"203.0.113.0/24": "DE", "2001:db8:1::/48": "FR"}'

Each CIDR maps to a record shaped like MaxMind's GeoIP2-Country ({"country": {"iso_code": ..}}),
in an IPv6 tree with the IPv4 space mapped as MaxMind's own databases do.
"""

import json
import sys

from mmdb_writer import MMDBWriter
from netaddr import IPSet


def main() -> None:
    out, networks = sys.argv[1], json.loads(sys.argv[2])
    writer = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type="GeoIP2-Country",
        languages=["en"],
        description={"en": "Palisade test database"},
    )
    for cidr, iso_code in networks.items():
        writer.insert_network(IPSet([cidr]), {"country": {"iso_code": iso_code}})
    writer.to_db_file(out)


if __name__ == "__main__":
    main()
