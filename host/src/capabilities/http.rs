//! Outbound HTTP through the standard `wasi:http/outgoing-handler`, with every request
//! checked in the send hook against the plugin's grants.
//!
//! Grants are `scheme://host[:port][/path-prefix]` (`*.` for subdomains). Private,
//! loopback and link-local addresses are refused unless a grant names that address
//! literally; the check is made on the addresses the name resolves to, and the host then
//! connects to exactly those addresses, so DNS cannot be used to reach them. Redirects are
//! new requests and pass the same check.

use super::CallContext;
use bytes::Bytes;
use http_body_util::BodyExt;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error as HttpErr, RequestOptions, WasiBody, WasiHttpHooks};

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
        } else if let Ok(ip) = parse_ip(&host) {
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

fn parse_ip(host: &str) -> Result<IpAddr, std::net::AddrParseError> {
    host.trim_start_matches('[').trim_end_matches(']').parse()
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

    /// The grant an admin would add to allow this destination (its origin).
    pub fn suggested_grant(&self) -> String {
        let port = if self.port == default_port(&self.scheme) {
            String::new()
        } else {
            format!(":{}", self.port)
        };
        format!("{}://{}{}", self.scheme, self.host, port)
    }

    fn ip(&self) -> Option<IpAddr> {
        parse_ip(&self.host).ok()
    }
}

impl HttpGrant {
    pub fn allows(&self, d: &Destination) -> bool {
        if self.scheme != d.scheme || self.port != d.port {
            return false;
        }
        let host_ok = match &self.host {
            HostPattern::Name(h) => *h == d.host,
            HostPattern::Subdomains(s) => d.host.ends_with(&format!(".{s}")),
            HostPattern::Ip(ip) => d.ip() == Some(*ip),
        };
        host_ok && path_allowed(&self.path, &d.path)
    }

    /// Whether this grant names `ip` literally, which is what allows a private address.
    fn names_ip(&self, ip: IpAddr) -> bool {
        matches!(self.host, HostPattern::Ip(g) if g == ip)
    }
}

fn path_allowed(prefix: &str, path: &str) -> bool {
    if prefix.is_empty() {
        return true;
    }
    // Servers normalise `..` and decode `%2e`/`%2f`; refuse them rather than guess how.
    let lower = path.to_ascii_lowercase();
    if path.split('/').any(|seg| seg == ".." || seg == ".")
        || lower.contains("%2e")
        || lower.contains("%2f")
    {
        return false;
    }
    path == prefix || path.starts_with(&format!("{prefix}/"))
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

/// The `wasi:http` hooks of one sandbox: the grant check, the caps, and the connection.
pub struct HttpPolicy {
    call: CallContext,
    requests: u32,
    deadline: Instant,
}

impl HttpPolicy {
    pub fn new(call: CallContext) -> Self {
        let deadline = Instant::now() + Duration::from_millis(call.limits.http_ms);
        HttpPolicy {
            call,
            requests: 0,
            deadline,
        }
    }

    fn refuse(&self, url: &str, why: &str, fix: String) -> HttpErr {
        self.call.notice(format!(
            "refused: plugin `{}` requested {url}: {why}; {fix}",
            self.call.plugin
        ));
        HttpErr::HttpRequestDenied
    }

    /// Everything that can be decided before resolving the name.
    fn check(&mut self, uri: &http::Uri) -> Result<(Destination, HttpGrant), HttpErr> {
        let url = uri.to_string();
        let plugin = self.call.plugin.clone();
        let Some(dest) = Destination::from_uri(uri) else {
            return Err(self.refuse(
                &url,
                "the URL has no scheme or host",
                "the plugin must send absolute URLs".into(),
            ));
        };
        let Some(grant) = self
            .call
            .grants
            .http
            .iter()
            .find(|g| g.allows(&dest))
            .cloned()
        else {
            let fix = format!(
                "to allow it: chatops grant {plugin} http {}",
                dest.suggested_grant()
            );
            return Err(self.refuse(&url, "no HTTP grant covers it", fix));
        };
        self.requests += 1;
        let max = self.call.limits.http_requests;
        if self.requests > max {
            let fix =
                format!("to allow more, raise `http_requests` under [plugins.{plugin}.limits]");
            return Err(self.refuse(
                &url,
                &format!("it made more than {max} requests in one command"),
                fix,
            ));
        }
        Ok((dest, grant))
    }
}

impl WasiHttpHooks for HttpPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpErr>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<WasiBody>,
                        Box<dyn Future<Output = Result<(), HttpErr>> + Send>,
                    ),
                    HttpErr,
                >,
            > + Send,
    > {
        drop(fut);
        let checked = self.check(request.uri());
        let call = self.call.clone();
        let deadline = self.deadline;
        Box::new(async move {
            let (dest, grant) = checked?;
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                call.notice(format!(
                    "refused: plugin `{}` used up its HTTP time of {} ms in one command; raise `http_ms` under [plugins.{}.limits]",
                    call.plugin, call.limits.http_ms, call.plugin
                ));
                return Err(HttpErr::HttpRequestDenied);
            }
            let addrs = resolve(&dest, remaining).await?;
            if let Some(ip) = addrs
                .iter()
                .map(SocketAddr::ip)
                .find(|ip| is_internal(*ip) && !grant.names_ip(*ip))
            {
                call.notice(format!(
                    "refused: plugin `{}` requested {}://{}:{}: it resolves to the internal address {ip}, which only a grant naming that address allows (chatops grant {} http {}://{})",
                    call.plugin, dest.scheme, dest.host, dest.port, call.plugin, dest.scheme,
                    SocketAddr::new(ip, dest.port)
                ));
                return Err(HttpErr::HttpRequestDenied);
            }
            // The guest may ask for a shorter wait for the answer; the plugin's HTTP time
            // budget bounds the whole exchange, body included.
            let first = options
                .and_then(|o| o.first_byte_timeout.or(o.connect_timeout))
                .unwrap_or(remaining)
                .min(remaining);
            let limits = Budget {
                first,
                total: remaining,
                max_body: call.limits.http_response_bytes,
            };
            send(request, &dest, &addrs, limits).await
        })
    }
}

async fn resolve(dest: &Destination, timeout: Duration) -> Result<Vec<SocketAddr>, HttpErr> {
    if let Some(ip) = dest.ip() {
        return Ok(vec![SocketAddr::new(ip, dest.port)]);
    }
    let lookup = tokio::net::lookup_host((dest.host.as_str(), dest.port));
    match tokio::time::timeout(timeout, lookup).await {
        Err(_) => Err(HttpErr::DnsTimeout),
        Ok(Err(e)) => Err(HttpErr::DnsError {
            rcode: Some(e.to_string()),
            info_code: None,
        }),
        Ok(Ok(addrs)) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                Err(HttpErr::DestinationNotFound)
            } else {
                Ok(addrs)
            }
        }
    }
}

type Sent = (
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), HttpErr>> + Send>,
);

/// Time and size allowed for one exchange.
struct Budget {
    /// Until the response head arrives.
    first: Duration,
    /// Until the connection is done, body included.
    total: Duration,
    max_body: u64,
}

/// Connect to one of the checked addresses (never re-resolving the name) and send.
async fn send(
    mut request: http::Request<WasiBody>,
    dest: &Destination,
    addrs: &[SocketAddr],
    budget: Budget,
) -> Result<Sent, HttpErr> {
    let Budget {
        first,
        total,
        max_body,
    } = budget;
    let work = async {
        let mut last = HttpErr::ConnectionRefused;
        let mut tcp = None;
        for addr in addrs {
            match tokio::net::TcpStream::connect(addr).await {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = HttpErr::Connect(e),
            }
        }
        let tcp = tcp.ok_or(last)?;
        let io: Box<dyn IoStream> = if dest.scheme == "https" {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.into(),
            };
            let config = rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth();
            let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
            let name = rustls::pki_types::ServerName::try_from(dest.host.clone())?;
            Box::new(connector.connect(name, tcp).await.map_err(HttpErr::Tls)?)
        } else {
            Box::new(tcp)
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
        let conn = tokio::spawn(tokio::time::timeout(total, conn));
        // The request line carries only the path: the authority went into the Host header.
        let path = request
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .to_string();
        *request.uri_mut() = http::Uri::builder()
            .path_and_query(path)
            .build()
            .map_err(|_| HttpErr::HttpRequestUriInvalid)?;
        let response = sender.send_request(request).await?;
        Ok::<_, HttpErr>((response, conn))
    };
    let (response, conn) = tokio::time::timeout(first, work)
        .await
        .map_err(|_| HttpErr::ConnectionTimeout)??;
    if let Some(len) = response
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
    {
        if len > max_body {
            return Err(HttpErr::HttpResponseBodySize(Some(len)));
        }
    }
    let response = response.map(|body| {
        CappedBody {
            inner: body.map_err(HttpErr::from).boxed_unsync(),
            left: max_body,
        }
        .boxed_unsync()
    });
    let io = Box::new(async move {
        match conn.await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(HttpErr::from(e)),
            Ok(Err(_)) => Err(HttpErr::HttpResponseTimeout),
            Err(_) => Err(HttpErr::ConnectionTerminated),
        }
    }) as Box<dyn Future<Output = Result<(), HttpErr>> + Send>;
    Ok((response, io))
}

trait IoStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Sync + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Sync + Unpin + 'static> IoStream
    for T
{
}

/// A response body that fails once it passes the plugin's size cap.
struct CappedBody {
    inner: WasiBody,
    left: u64,
}

impl http_body::Body for CappedBody {
    type Data = Bytes;
    type Error = HttpErr;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, HttpErr>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let n = data.len() as u64;
                    if n > self.left {
                        self.left = 0;
                        return Poll::Ready(Some(Err(HttpErr::HttpResponseBodySize(None))));
                    }
                    self.left -= n;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
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
        assert!(!w.allows(&dest("https://badexample.com/")));
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
