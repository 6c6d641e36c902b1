//! One GET that does not follow redirects. Buildbot's `/auth/login` answers a good login
//! with a 302 whose `Set-Cookie` carries the session; the SDK's client follows redirects
//! and returns only the last response, so the cookie would be lost.

use chatops_sdk::bindings::wasi::http::outgoing_handler;
use chatops_sdk::bindings::wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme,
};
use chatops_sdk::bindings::wasi::io::streams::StreamError;
use chatops_sdk::http::{HttpError, Response};

pub fn get(url: &str, headers: &[(&str, &str)]) -> Result<Response, HttpError> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| HttpError::InvalidUrl(format!("`{url}` has no scheme")))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let fields = Fields::new();
    for (k, v) in headers {
        fields
            .append(k, v.as_bytes())
            .map_err(|e| HttpError::Failed(format!("header `{k}`: {e:?}")))?;
    }
    let req = OutgoingRequest::new(fields);
    let bad = |what: &str| HttpError::InvalidUrl(format!("{what} of {url}"));
    req.set_method(&Method::Get).map_err(|_| bad("method"))?;
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => Scheme::Other(other.into()),
    };
    req.set_scheme(Some(&scheme)).map_err(|_| bad("scheme"))?;
    req.set_authority(Some(authority))
        .map_err(|_| bad("host"))?;
    req.set_path_with_query(Some(path))
        .map_err(|_| bad("path"))?;
    let body = req
        .body()
        .map_err(|_| HttpError::Failed("request body taken twice".into()))?;
    let future = outgoing_handler::handle(req, None).map_err(|e| error_code(url, e))?;
    OutgoingBody::finish(body, None)
        .map_err(|e| HttpError::Failed(format!("finishing the request: {e:?}")))?;
    let incoming = loop {
        match future.get() {
            Some(Ok(Ok(resp))) => break resp,
            Some(Ok(Err(code))) => return Err(error_code(url, code)),
            Some(Err(())) => return Err(HttpError::Failed("response already taken".into())),
            None => future.subscribe().block(),
        }
    };
    let status = incoming.status();
    let headers = incoming
        .headers()
        .entries()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
        .collect();
    let body = incoming
        .consume()
        .map_err(|_| HttpError::Failed("response body taken twice".into()))?;
    let mut bytes = Vec::new();
    {
        let stream = body
            .stream()
            .map_err(|_| HttpError::Failed("response body stream".into()))?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(HttpError::Failed(format!(
                        "reading the response from {url}: {}",
                        e.to_debug_string()
                    )))
                }
            }
        }
    }
    IncomingBody::finish(body);
    Ok(Response {
        status,
        headers,
        body: bytes,
    })
}

fn error_code(url: &str, code: ErrorCode) -> HttpError {
    match code {
        ErrorCode::HttpRequestDenied => HttpError::Denied(url.to_string()),
        other => HttpError::Failed(format!("{url}: {other:?}")),
    }
}
