//! The connection of a checked request: resolve once, connect to exactly those addresses
//! (TLS by rustls with the web PKI roots), and cap the time and the size of the answer.

use super::grant::Destination;
use bytes::Bytes;
use http_body_util::BodyExt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error as HttpErr, WasiBody};

pub(super) async fn resolve(dest: &Destination, timeout: Duration) -> Result<Vec<SocketAddr>, HttpErr> {
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

pub(super) type Sent = (
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), HttpErr>> + Send>,
);

/// Time and size allowed for one exchange.
pub(super) struct Budget {
    /// Until the response head arrives.
    pub first: Duration,
    /// Until the connection is done, body included.
    pub total: Duration,
    pub max_body: u64,
}

/// Connect to one of the checked addresses (never re-resolving the name) and send.
pub(super) async fn send(
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

