//! The provider HTTP client: what Palisade may reach when it talks to an identity provider.
//!
//! Guarantees:
//! - **No redirects**: a 3xx answer is returned as it is (never followed), and the callers
//!   treat anything but the status they expect as a failure; a provider cannot bounce Palisade
//!   to another host.
//! - **Hosts**: a request goes out only when its URL's host is the issuer's host or one of the
//!   provider's `allowed_hosts` (compared case-insensitively, without a trailing dot); anything
//!   else is refused before any connection ([`ReachError::HostNotAllowed`]).
//! - **Addresses, at connect time**: every address a name resolves to is checked before the
//!   connection is made (the resolver is ours, so DNS rebinding cannot slip a private address
//!   past a check made on the name). A non-public address (loopback, private, link-local,
//!   unique-local, CGNAT, unspecified, multicast, documentation, IPv4-mapped forms of these) is
//!   used only when `allowed_hosts` lists that address or a network holding it; an IP-literal
//!   URL is checked the same way before the request. A name with no usable address is refused.
//! - **Scheme**: `https`, or `http` only to a listed non-public address (a test or lab IdP on
//!   loopback).
//! - No system proxy, no cookies, a timeout on every request.

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Why a provider URL may not be reached.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReachError {
    /// The URL does not parse or has no host.
    #[error("not a usable URL: {0}")]
    BadUrl(String),
    /// The host is neither the issuer's nor in `allowed_hosts`.
    #[error("host {0} is not the issuer's and not in allowed_hosts")]
    HostNotAllowed(String),
    /// A non-public address that `allowed_hosts` does not list.
    #[error("address {0} is not public and not listed in allowed_hosts")]
    AddressNotAllowed(IpAddr),
    /// `http` to a host that is not a listed non-public address.
    #[error("plain http is allowed only to a listed loopback or private address")]
    InsecureScheme,
}

/// What one provider may reach: the issuer's host plus its `allowed_hosts`.
#[derive(Debug, Clone)]
pub struct Reach {
    /// Host names (lower case, no trailing dot) and IP literals a URL may name.
    hosts: Vec<String>,
    /// Addresses and networks listed in `allowed_hosts`: the only non-public addresses used.
    listed_networks: Vec<IpNet>,
}

impl Reach {
    /// The reach of a provider whose issuer (or discovery) URL is `issuer`, with the entries of
    /// its `allowed_hosts`: host names, IP addresses or CIDR networks.
    pub fn new(issuer: &str, allowed_hosts: &[String]) -> Result<Self, ReachError> {
        let issuer = Url::parse(issuer).map_err(|e| ReachError::BadUrl(e.to_string()))?;
        let mut hosts = vec![host_of(&issuer)?];
        let mut listed_networks = Vec::new();
        for entry in allowed_hosts {
            let entry = entry.trim();
            if let Ok(net) = entry.parse::<IpNet>() {
                listed_networks.push(net);
            } else if let Ok(ip) = entry.parse::<IpAddr>() {
                listed_networks.push(IpNet::from(ip));
                hosts.push(normalize_host(entry));
            } else if entry.is_empty() || entry.contains(['/', ':', '@', ' ']) {
                return Err(ReachError::BadUrl(format!(
                    "allowed_hosts entry {entry:?} is not a host name, address or network"
                )));
            } else {
                hosts.push(normalize_host(entry));
            }
        }
        Ok(Self {
            hosts,
            listed_networks,
        })
    }

    /// Checks a URL before a request: its host is allowed, an IP literal is usable, and the
    /// scheme fits. Returns the parsed URL.
    pub fn check_url(&self, url: &str) -> Result<Url, ReachError> {
        let url = Url::parse(url).map_err(|e| ReachError::BadUrl(e.to_string()))?;
        let host = host_of(&url)?;
        if !self.hosts.contains(&host) {
            return Err(ReachError::HostNotAllowed(host));
        }
        let literal = match url.host() {
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            _ => None,
        };
        if let Some(ip) = literal {
            self.check_address(ip)?;
        }
        match url.scheme() {
            "https" => Ok(url),
            "http" if literal.is_some_and(|ip| !is_public(ip)) => Ok(url),
            "http" => Err(ReachError::InsecureScheme),
            other => Err(ReachError::BadUrl(format!("scheme {other} is not http(s)"))),
        }
    }

    /// Whether a resolved address may be connected to.
    pub fn check_address(&self, ip: IpAddr) -> Result<(), ReachError> {
        let ip = ip.to_canonical();
        if is_public(ip) || self.listed_networks.iter().any(|n| n.contains(&ip)) {
            Ok(())
        } else {
            Err(ReachError::AddressNotAllowed(ip))
        }
    }
}

/// A URL's host, lower case and without a trailing dot (IPv6 without brackets).
fn host_of(url: &Url) -> Result<String, ReachError> {
    match url.host() {
        Some(url::Host::Domain(d)) => Ok(normalize_host(d)),
        Some(url::Host::Ipv4(v4)) => Ok(v4.to_string()),
        Some(url::Host::Ipv6(v6)) => Ok(v6.to_string()),
        None => Err(ReachError::BadUrl(format!("{url} has no host"))),
    }
}

fn normalize_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether an address is reachable on the public Internet (what needs no listing).
pub fn is_public(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
                || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18/15
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link local fe80::/10
                || first == 0x2001 && v6.segments()[1] == 0x0db8 // documentation
                || (first == 0x0064 && v6.segments()[1] == 0xff9b)) // NAT64 maps private space
        }
    }
}

/// The resolver behind [`client`]: the system's, then only the addresses [`Reach`] admits.
#[derive(Debug)]
struct CheckedResolver {
    reach: Arc<Reach>,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let reach = self.reach.clone();
        Box::pin(async move {
            let host = normalize_host(name.as_str());
            if !reach.hosts.contains(&host) {
                return Err(Box::new(ReachError::HostNotAllowed(host)) as _);
            }
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let mut refused = None;
            let usable: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|a| match reach.check_address(a.ip()) {
                    Ok(()) => true,
                    Err(e) => {
                        refused = Some(e);
                        false
                    }
                })
                .collect();
            if usable.is_empty() {
                let why = refused.unwrap_or(ReachError::HostNotAllowed(host));
                return Err(Box::new(why) as _);
            }
            Ok(Box::new(usable.into_iter()) as Addrs)
        })
    }
}

/// The HTTP client for one provider: no redirects, no proxy, our resolver, `timeout` per
/// request. Callers check every URL with [`Reach::check_url`] first (an IP literal bypasses
/// name resolution, so the resolver alone would not see it).
pub fn client(reach: Arc<Reach>, timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        // GitHub's API refuses requests without a User-Agent.
        .user_agent(concat!("palisade/", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
        .dns_resolver(Arc::new(CheckedResolver { reach }))
        .build()
}

/// A provider client with its reach: every request is checked, then sent.
#[derive(Debug, Clone)]
pub struct ProviderHttp {
    reach: Arc<Reach>,
    client: reqwest::Client,
}

/// Why a provider request failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL is outside the provider's reach.
    #[error(transparent)]
    Reach(#[from] ReachError),
    /// The request failed (connect, a refused resolved address, timeout, body).
    #[error("provider request failed: {0}")]
    Http(String),
    /// The provider answered with a status other than 200 (a redirect included).
    #[error("provider answered {0}")]
    Status(u16),
}

impl ProviderHttp {
    /// A client for the provider at `issuer` that may also reach `allowed_hosts`.
    pub fn new(issuer: &str, allowed_hosts: &[String]) -> Result<Self, FetchError> {
        let reach = Arc::new(Reach::new(issuer, allowed_hosts)?);
        let client = client(reach.clone(), Duration::from_secs(10))
            .map_err(|e| FetchError::Http(e.to_string()))?;
        Ok(Self { reach, client })
    }

    /// What this client may reach.
    pub fn reach(&self) -> &Reach {
        &self.reach
    }

    /// GETs `url` and returns its body as JSON; any status but 200 is an error.
    pub async fn get_json(&self, url: &str) -> Result<serde_json::Value, FetchError> {
        let url = self.reach.check_url(url)?;
        self.json_of(self.client.get(url)).await
    }

    /// GETs `url` with `Authorization: Bearer token` (a userinfo endpoint) and returns its
    /// JSON body; any status but 200 is an error.
    pub async fn get_json_bearer(
        &self,
        url: &str,
        token: &str,
    ) -> Result<serde_json::Value, FetchError> {
        let url = self.reach.check_url(url)?;
        self.json_of(self.client.get(url).bearer_auth(token)).await
    }

    /// POSTs `form` to `url` (a token endpoint) with HTTP Basic client authentication
    /// (RFC 6749 §2.3.1: id and secret form-encoded first) and returns the JSON body; any
    /// status but 200 is an error.
    pub async fn post_form(
        &self,
        url: &str,
        client: (&str, &str),
        form: &[(&str, &str)],
    ) -> Result<serde_json::Value, FetchError> {
        let url = self.reach.check_url(url)?;
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let request = self
            .client
            .post(url)
            .basic_auth(enc(client.0), Some(enc(client.1)))
            .form(form);
        self.json_of(request).await
    }

    /// POSTs `form` to `url` (a token endpoint) with the client's id and secret among the form
    /// parameters (RFC 6749 §2.3.1's alternative, the one GitHub documents) and returns the JSON
    /// body; any status but 200 is an error.
    pub async fn post_form_client_in_body(
        &self,
        url: &str,
        client: (&str, &str),
        form: &[(&str, &str)],
    ) -> Result<serde_json::Value, FetchError> {
        let url = self.reach.check_url(url)?;
        let mut all = vec![("client_id", client.0), ("client_secret", client.1)];
        all.extend_from_slice(form);
        self.json_of(self.client.post(url).form(&all)).await
    }

    async fn json_of(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<serde_json::Value, FetchError> {
        let response = request
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| FetchError::Http(error_chain(&e)))?;
        if response.status() != http::StatusCode::OK {
            return Err(FetchError::Status(response.status().as_u16()));
        }
        response
            .json()
            .await
            .map_err(|e| FetchError::Http(error_chain(&e)))
    }
}

/// An error with its sources (reqwest hides the resolver's reason one level down).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach(allowed: &[&str]) -> Reach {
        let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
        Reach::new("https://idp.example.com/realms/x", &allowed).unwrap()
    }

    #[test]
    fn only_the_issuer_host_and_listed_hosts_are_named() {
        let r = reach(&["www.googleapis.com"]);
        assert!(r.check_url("https://IDP.example.com./token").is_ok());
        assert!(
            r.check_url("https://www.googleapis.com/oauth2/v3/certs")
                .is_ok()
        );
        assert_eq!(
            r.check_url("https://evil.example.com/").unwrap_err(),
            ReachError::HostNotAllowed("evil.example.com".into())
        );
        assert_eq!(
            r.check_url("https://idp.example.com.evil.net/")
                .unwrap_err(),
            ReachError::HostNotAllowed("idp.example.com.evil.net".into())
        );
        assert_eq!(
            r.check_url("http://idp.example.com/").unwrap_err(),
            ReachError::InsecureScheme
        );
    }

    #[test]
    fn non_public_addresses_need_a_listing() {
        let r = reach(&[]);
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(r.check_address(ip).is_err(), "{ip}");
        }
        assert!(r.check_address("93.184.215.14".parse().unwrap()).is_ok());
        assert!(r.check_address("2606:4700::1111".parse().unwrap()).is_ok());
        let listed = reach(&["127.0.0.1", "10.0.0.0/8"]);
        assert!(listed.check_address("127.0.0.1".parse().unwrap()).is_ok());
        assert!(
            listed
                .check_address("::ffff:127.0.0.1".parse().unwrap())
                .is_ok()
        );
        assert!(listed.check_address("10.9.9.9".parse().unwrap()).is_ok());
        assert!(listed.check_address("127.0.0.2".parse().unwrap()).is_err());
        assert!(
            listed
                .check_address("192.168.0.1".parse().unwrap())
                .is_err()
        );
        // A listed loopback literal may be spoken to over plain http (a lab IdP); a public one not.
        assert!(listed.check_url("http://127.0.0.1:8080/x").is_ok());
        assert!(
            reach(&["93.184.215.14"])
                .check_url("http://93.184.215.14/")
                .is_err()
        );
    }

    #[test]
    fn malformed_allowed_hosts_are_refused() {
        for bad in ["", "https://x.example", "a b", "user@host"] {
            assert!(
                Reach::new("https://idp.example.com", &[bad.to_string()]).is_err(),
                "{bad:?}"
            );
        }
    }
}
