//! HTTP grants (`scheme://host[:port][/path-prefix]`, `*.` for subdomains), the destination
//! of a request as the check sees it, and which addresses count as internal.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

/// A granted destination, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpGrant {
    pub scheme: String,
    pub host: HostPattern,
    pub port: u16,
    /// Without a trailing `/`; empty means every path.
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    Name(String),
    /// `*.example.com`: any subdomain of `example.com` (not `example.com` itself).
    Subdomains(String),
    Ip(IpAddr),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{pattern}` is not an HTTP grant: {reason}. Write scheme://host[:port][/path-prefix], e.g. https://api.example.com/v1 or https://*.example.com")]
pub struct GrantError {
    pub pattern: String,
    pub reason: String,
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" {
        443
    } else {
        80
    }
}

impl FromStr for HttpGrant {
    type Err = GrantError;

    fn from_str(pattern: &str) -> Result<Self, GrantError> {
        let err = |reason: &str| GrantError {
            pattern: pattern.to_string(),
            reason: reason.to_string(),
        };
        let (scheme, rest) = pattern
            .split_once("://")
            .ok_or_else(|| err("the scheme is missing"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(err("the scheme must be http or https"));
        }
        if rest.contains(['?', '#']) {
            return Err(err("a grant has no query or fragment"));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(err("a grant has no user name or password"));
        }
        let (host, port) = split_host_port(authority)
            .ok_or_else(|| err("the port is not a number from 1 to 65535"))?;
        if host.is_empty() {
            return Err(err("the host is missing"));
        }
        let host = host.to_ascii_lowercase();
        let host = if let Some(suffix) = host.strip_prefix("*.") {
            if suffix.is_empty() || suffix.contains('*') || !valid_name(suffix) {
                return Err(err("`*.` must be followed by a domain name"));
            }
            HostPattern::Subdomains(suffix.to_string())
        } else if let Some(ip) = parse_ip(&host) {
            HostPattern::Ip(ip)
        } else if valid_name(&host) {
            HostPattern::Name(host)
        } else {
            return Err(err("the host is not a valid name or IP address (`*` is only allowed as a leading `*.`)"));
        };
        let path = path.trim_end_matches('/').to_string();
        if path.split('/').any(|seg| seg == ".." || seg == ".") {
            return Err(err("the path may not contain `.` or `..` segments"));
        }
        Ok(HttpGrant {
            port: port.unwrap_or(default_port(&scheme)),
            scheme,
            host,
            path,
        })
    }
}

impl fmt::Display for HttpGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme)?;
        match &self.host {
            HostPattern::Name(h) => write!(f, "{h}")?,
            HostPattern::Subdomains(h) => write!(f, "*.{h}")?,
            HostPattern::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
            HostPattern::Ip(ip) => write!(f, "{ip}")?,
        }
        if self.port != default_port(&self.scheme) {
            write!(f, ":{}", self.port)?;
        }
        write!(f, "{}", self.path)
    }
}

fn valid_name(host: &str) -> bool {
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

/// An IP literal in any notation a resolver accepts: `[v6]` (a zone such as `%25eth0`
/// does not change the address), dotted IPv4, and IPv4 as `inet_aton` reads it (one to
/// four parts, each decimal, octal with a leading 0, or hex with 0x: `2130706433`,
/// `0x7f.1`, `017700000001` are all 127.0.0.1). What is not an address is a name.
fn parse_ip(host: &str) -> Option<IpAddr> {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let addr = inner.split('%').next().unwrap_or(inner);
        return addr.parse().ok();
    }
    host.parse()
        .ok()
        .or_else(|| inet_aton(host).map(IpAddr::V4))
}

fn inet_aton(host: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = host.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let mut nums = Vec::with_capacity(parts.len());
    for p in parts {
        let (digits, radix) = match p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
            Some(h) => (h, 16),
            None if p.len() > 1 && p.starts_with('0') => (&p[1..], 8),
            None => (p, 10),
        };
        if p.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            return None;
        }
        // Leading zeros do not change the value, however many there are.
        let digits = digits.trim_start_matches('0');
        if digits.len() > 11 {
            return None;
        }
        nums.push(if digits.is_empty() {
            0
        } else {
            u64::from_str_radix(digits, radix).ok()?
        });
    }
    let (last, first) = nums.split_last()?;
    if first.iter().any(|n| *n > 255) || *last >= 1u64 << (8 * (4 - first.len())) {
        return None;
    }
    let high = first
        .iter()
        .enumerate()
        .fold(0u32, |v, (i, n)| v | (*n as u32) << (24 - 8 * i));
    Some(Ipv4Addr::from(high | *last as u32))
}

/// `host[:port]`, with IPv6 in brackets. `None` if the port is not a valid number.
fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if authority.starts_with('[') {
        match authority.find(']') {
            Some(i) => (&authority[..=i], authority[i + 1..].strip_prefix(':')),
            None => (authority, None),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    match port {
        None => Some((host, None)),
        Some(p) => match p.parse::<u16>() {
            Ok(p) if p != 0 => Some((host, Some(p))),
            _ => None,
        },
    }
}

/// A request's destination, as the grant check sees it.
#[derive(Debug, Clone)]
pub struct Destination {
    pub scheme: String,
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl Destination {
    pub fn from_uri(uri: &http::Uri) -> Option<Destination> {
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let host = uri.host()?.to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(default_port(&scheme));
        Some(Destination {
            scheme,
            host,
            port,
            path: uri.path().to_string(),
        })
    }

    /// The grant an admin would add to allow this destination (its origin), with an IP
    /// address written the usual way whatever notation the plugin used.
    pub fn suggested_grant(&self) -> String {
        let port = if self.port == default_port(&self.scheme) {
            String::new()
        } else {
            format!(":{}", self.port)
        };
        let host = match self.ip() {
            Some(IpAddr::V6(ip)) => format!("[{ip}]"),
            Some(ip) => ip.to_string(),
            None => self.host.clone(),
        };
        format!("{}://{host}{port}", self.scheme)
    }

    /// The address, if the host is an IP literal (see `parse_ip` for the notations).
    pub fn ip(&self) -> Option<IpAddr> {
        parse_ip(&self.host)
    }
}

impl HttpGrant {
    pub fn allows(&self, d: &Destination) -> bool {
        if self.scheme != d.scheme || self.port != d.port {
            return false;
        }
        let host_ok = match &self.host {
            HostPattern::Name(h) => *h == d.host,
            // A name in front: `.example.com` is no subdomain (found by fuzzing).
            HostPattern::Subdomains(s) => d
                .host
                .strip_suffix(s.as_str())
                .and_then(|sub| sub.strip_suffix('.'))
                .is_some_and(valid_name),
            HostPattern::Ip(ip) => d.ip() == Some(*ip),
        };
        host_ok && path_allowed(&self.path, &d.path)
    }

    /// Whether this grant names `ip` literally, which is what allows a private address.
    pub(crate) fn names_ip(&self, ip: IpAddr) -> bool {
        matches!(self.host, HostPattern::Ip(g) if g == ip)
    }
}

fn path_allowed(prefix: &str, path: &str) -> bool {
    if prefix.is_empty() {
        return true;
    }
    // Servers normalise `..` (also `..;param`, as Tomcat does), decode `%2e`/`%2f`/`%3b`,
    // and some read `\` as `/`; refuse all of them rather than guess how.
    let lower = path.to_ascii_lowercase();
    if path
        .split('/')
        .any(|seg| matches!(seg.split(';').next(), Some(".." | ".")))
        || path.contains('\\')
        || ["%2e", "%2f", "%3b", "%5c"]
            .iter()
            .any(|e| lower.contains(e))
    {
        return false;
    }
    path == prefix || path.starts_with(&format!("{prefix}/"))
}

/// What an internal address is, in words an admin can weigh before granting it, and
/// whether suggesting a grant is reasonable at all (never for link-local: that is where
/// cloud metadata services hand out the machine's own credentials).
pub fn internal_kind(ip: IpAddr) -> (&'static str, bool) {
    let v4 = match ip {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
    };
    let link_local = match (v4, ip) {
        (Some(v4), _) => v4.is_link_local(),
        (None, IpAddr::V6(v6)) => (v6.segments()[0] & 0xffc0) == 0xfe80,
        _ => false,
    };
    if link_local {
        return ("a link-local address, where cloud metadata services (169.254.169.254) hand out this machine's credentials; no grant is suggested", false);
    }
    if ip.is_loopback() || v4.is_some_and(|v| v.is_loopback()) {
        return (
            "a loopback address: a service on the bot's own machine",
            true,
        );
    }
    if ip.is_unspecified() || ip.is_multicast() || v4.is_some_and(|v| v.is_broadcast()) {
        return (
            "not a destination a plugin should reach; no grant is suggested",
            false,
        );
    }
    (
        "a private network address: a service inside your network",
        true,
    )
}

/// Addresses a plugin reaches only through a grant that names them literally.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1])) // shared address space
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
                || o[0] >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let seg0 = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg0 & 0xfe00) == 0xfc00 // unique local
                || (seg0 & 0xffc0) == 0xfe80 // link-local
                || (seg0 == 0x64 && v6.segments()[1] == 0xff9b) // NAT64 can reach IPv4 internals
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(url: &str) -> Destination {
        Destination::from_uri(&url.parse().unwrap()).unwrap()
    }

    fn grant(s: &str) -> HttpGrant {
        s.parse().unwrap()
    }

    #[test]
    fn grants_normalise_default_ports_and_trailing_slashes() {
        assert_eq!(
            grant("https://api.example.com:443/v1/"),
            grant("https://API.example.com/v1")
        );
        assert_eq!(
            grant("http://example.com:80").to_string(),
            "http://example.com"
        );
        assert_eq!(
            grant("http://127.0.0.1:8080/x/").to_string(),
            "http://127.0.0.1:8080/x"
        );
    }

    #[test]
    fn grants_match_scheme_host_port_and_path_prefix() {
        let g = grant("https://api.example.com/v1");
        assert!(g.allows(&dest("https://api.example.com/v1")));
        assert!(g.allows(&dest("https://api.example.com/v1/deploys?x=1")));
        assert!(!g.allows(&dest("https://api.example.com/v10")));
        assert!(!g.allows(&dest("https://api.example.com/v1/../admin")));
        assert!(!g.allows(&dest("https://api.example.com/v1/%2e%2e/admin")));
        assert!(!g.allows(&dest("http://api.example.com/v1")));
        assert!(!g.allows(&dest("https://api.example.com:8443/v1")));
        assert!(!g.allows(&dest("https://evil.example.com/v1")));
        let w = grant("https://*.example.com");
        assert!(w.allows(&dest("https://a.b.example.com/")));
        assert!(!w.allows(&dest("https://example.com/")));
        assert!(!w.allows(&dest("https://.example.com/")));
        assert!(!w.allows(&dest("https://a..example.com/")));
        assert!(!w.allows(&dest("https://badexample.com/")));
    }

    #[test]
    fn paths_servers_would_read_as_outside_the_prefix_are_refused() {
        let g = grant("https://api.example.com/v1");
        for url in [
            "https://api.example.com/v1/..\\admin",
            "https://api.example.com/v1\\..\\admin",
            "https://api.example.com/v1/..%5cadmin",
            "https://api.example.com/v1/..%5Cadmin",
            "https://api.example.com/v1/..;/admin",
            "https://api.example.com/v1/..;x=1/admin",
            "https://api.example.com/v1/.;/x",
            "https://api.example.com/v1/..%3b/admin",
        ] {
            assert!(!g.allows(&dest(url)), "{url}");
        }
        assert!(g.allows(&dest("https://api.example.com/v1/a;b=c")));
    }

    #[test]
    fn ip_literals_are_read_in_every_notation() {
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        for host in [
            "127.0.0.1",
            "2130706433",
            "0x7f000001",
            "0X7F.1",
            "017700000001",
            "0177.0.0.01",
            "127.1",
            "127.0.1",
            "0x7f.0.0.0x1",
            "0000000000177.0.0.1",
        ] {
            let d = dest(&format!("http://{host}/"));
            assert_eq!(d.ip(), Some(loopback), "{host}");
            assert_eq!(d.suggested_grant(), "http://127.0.0.1", "{host}");
            assert_eq!(grant(&format!("http://{host}")), grant("http://127.0.0.1"));
        }
        let metadata = dest("http://0xa9fea9fe/latest/meta-data/");
        assert!(!internal_kind(metadata.ip().unwrap()).1);
        let zoned = dest("http://[fe80::1%25eth0]/");
        assert_eq!(zoned.ip(), Some("fe80::1".parse().unwrap()));
        assert!(!internal_kind(zoned.ip().unwrap()).1);
        assert_eq!(
            dest("http://[::ffff:7f00:1]/").suggested_grant(),
            "http://[::ffff:127.0.0.1]"
        );
        for name in [
            "1.2.3.4.5",
            "08.1",
            "1.256.1.1",
            "4294967296",
            "1e3",
            "127.0.0.1.",
        ] {
            assert_eq!(parse_ip(name), None, "{name}");
        }
        assert_eq!(parse_ip("0x"), Some("0.0.0.0".parse().unwrap()));
        // A leading zero means octal, as resolvers read it: 0127 is 87.
        assert_eq!(parse_ip("0127.0.0.1"), Some("87.0.0.1".parse().unwrap()));
        assert_eq!(
            parse_ip("4294967295"),
            Some("255.255.255.255".parse().unwrap())
        );
        assert_eq!(
            parse_ip("037777777777"),
            Some("255.255.255.255".parse().unwrap())
        );
    }

    #[test]
    fn bad_grants_say_what_is_wrong() {
        for (bad, why) in [
            ("api.example.com", "scheme is missing"),
            ("ftp://example.com", "http or https"),
            ("https://", "host is missing"),
            ("https://exa*mple.com", "not a valid name"),
            ("https://example.com:99999", "port"),
            ("https://example.com/a?b", "query"),
            ("https://u:p@example.com", "user name"),
        ] {
            let e = bad.parse::<HttpGrant>().unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn metadata_and_link_local_addresses_are_never_suggested() {
        for ip in [
            "169.254.169.254",
            "fe80::1",
            "::ffff:169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
        ] {
            assert!(!internal_kind(ip.parse().unwrap()).1, "{ip}");
        }
        assert!(internal_kind("127.0.0.1".parse().unwrap())
            .0
            .contains("loopback"));
        assert!(internal_kind("10.0.0.1".parse().unwrap())
            .0
            .contains("private network"));
    }

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "100.64.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "1.1.1.1"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }
}
