//! Client-IP resolution: `X-Forwarded-For` is believed only hop by hop through proxies we trust.
//!
//! Guarantee: if the socket peer is not a trusted proxy, the result is the socket peer, whatever
//! the headers say. Otherwise the chain is walked from the right (the hop nearest to us) and the
//! first address that is not a trusted proxy is the client.

use ipnet::IpNet;
use std::net::IpAddr;

/// The set of proxies whose `X-Forwarded-For` we believe.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

impl TrustedProxies {
    /// Trusts proxies in `nets` (the `server.trusted_proxies` CIDRs).
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self { nets }
    }

    /// Whether no proxy is trusted (then the peer is always the client).
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// Whether `ip` is a trusted proxy (IPv4-mapped IPv6 addresses read as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// Resolves the client address from the socket peer and the `X-Forwarded-For` values, in the
    /// order the headers appeared.
    pub fn resolve<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl Iterator<Item = &'a str>,
    ) -> IpAddr {
        let peer = canonical(peer);
        if !self.contains(peer) {
            return peer;
        }
        let hops: Vec<&str> = forwarded_for.flat_map(|v| v.split(',')).collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            match parse_hop(hop) {
                Some(ip) => {
                    client = ip;
                    if !self.contains(ip) {
                        return ip;
                    }
                }
                // A malformed hop ends the chain we can believe.
                None => return client,
            }
        }
        client
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    // "[v6]:port" or "v4:port"
    hop.parse::<std::net::SocketAddr>()
        .ok()
        .map(|sa| canonical(sa.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| n.parse().unwrap()).collect())
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_the_header_says() {
        let t = trusted(&["10.0.0.0/8"]);
        assert_eq!(
            t.resolve(ip("203.0.113.9"), ["1.2.3.4"].into_iter()),
            ip("203.0.113.9")
        );
        assert_eq!(
            TrustedProxies::default().resolve(ip("127.0.0.1"), ["1.2.3.4"].into_iter()),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn walks_from_the_right_through_trusted_hops() {
        let t = trusted(&["10.0.0.0/8"]);
        let got = t.resolve(
            ip("10.0.0.1"),
            ["6.6.6.6, 198.51.100.7, 10.0.0.2"].into_iter(),
        );
        assert_eq!(
            got,
            ip("198.51.100.7"),
            "the spoofed leftmost entry is ignored"
        );
    }

    #[test]
    fn several_header_lines_form_one_chain() {
        let t = trusted(&["10.0.0.0/8"]);
        let got = t.resolve(ip("10.0.0.1"), ["198.51.100.7", "10.0.0.3"].into_iter());
        assert_eq!(got, ip("198.51.100.7"));
    }

    #[test]
    fn malformed_hop_stops_the_walk() {
        let t = trusted(&["10.0.0.0/8"]);
        let got = t.resolve(ip("10.0.0.1"), ["1.2.3.4, garbage, 10.0.0.5"].into_iter());
        assert_eq!(got, ip("10.0.0.5"));
    }

    #[test]
    fn ports_and_mapped_addresses_are_understood() {
        let t = trusted(&["10.0.0.0/8"]);
        assert_eq!(
            t.resolve(ip("::ffff:10.0.0.1"), ["[2001:db8::1]:443"].into_iter()),
            ip("2001:db8::1")
        );
        assert_eq!(
            t.resolve(ip("10.0.0.1"), ["192.0.2.1:5555"].into_iter()),
            ip("192.0.2.1")
        );
    }
}

/// The properties the `client_ip` fuzz target checks (`fuzz/fuzz_targets/client_ip.rs`),
/// replayed over the committed corpus by this crate's tests.
///
/// Input: byte 0 chooses which of a few trusted networks are configured (one bit each), byte 1
/// the socket peer's family (even: IPv4 in bytes 2..6, odd: IPv6 in bytes 2..18), bytes 18..
/// are `X-Forwarded-For` header lines separated by `\n`.
#[doc(hidden)]
pub mod fuzz_props {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const NETS: [&str; 6] = [
        "10.0.0.0/8",
        "127.0.0.1/32",
        "192.168.0.0/16",
        "fd00::/8",
        "::1/128",
        "0.0.0.0/0",
    ];

    /// Panics when a property fails.
    pub fn check(data: &[u8]) {
        if data.len() < 18 {
            return;
        }
        let nets = NETS
            .iter()
            .enumerate()
            .filter(|(i, _)| data[0] >> i & 1 == 1)
            .map(|(_, n)| n.parse().expect("network"))
            .collect();
        let trusted = TrustedProxies::new(nets);
        let peer = if data[1] & 1 == 0 {
            IpAddr::V4(Ipv4Addr::new(data[2], data[3], data[4], data[5]))
        } else {
            let b: [u8; 16] = data[2..18].try_into().expect("16 bytes");
            IpAddr::V6(Ipv6Addr::from(b))
        };
        let headers = String::from_utf8_lossy(&data[18..]);
        let lines: Vec<&str> = headers.split('\n').collect();
        let client = trusted.resolve(peer, lines.iter().copied());
        let peer = canonical(peer);

        // The result is canonical (no IPv4-mapped IPv6).
        assert_eq!(canonical(client), client);
        // An untrusted peer is the client, whatever the headers say.
        if !trusted.contains(peer) {
            assert_eq!(client, peer, "{lines:?}");
            return;
        }
        // Otherwise the chain, nearest hop first: the client is the first hop that is not a
        // trusted proxy; a malformed hop ends the chain at the hop before it (the peer for the
        // first); a chain of trusted proxies only ends at its farthest hop.
        let hops: Vec<Option<IpAddr>> = lines
            .iter()
            .flat_map(|l| l.split(','))
            .rev()
            .map(parse_hop)
            .collect();
        let mut expected = peer;
        for hop in &hops {
            match hop {
                Some(ip) => {
                    expected = *ip;
                    if !trusted.contains(*ip) {
                        break;
                    }
                }
                None => break,
            }
        }
        assert_eq!(client, expected, "{peer} {lines:?}");
        // Whatever it is, it is the peer or an address some hop named.
        assert!(client == peer || hops.contains(&Some(client)));
        // Every hop nearer than the one that named the client is a trusted proxy.
        if client != peer {
            for hop in hops.iter().take_while(|h| **h != Some(client)) {
                assert!(hop.is_some_and(|ip| trusted.contains(ip)), "{lines:?}");
            }
        }
    }
}
