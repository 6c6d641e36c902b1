//! Outbound HTTP through the standard `wasi:http/outgoing-handler`, with every request
//! checked in the send hook against the plugin's grants.
//!
//! Grants are `scheme://host[:port][/path-prefix]` (`*.` for subdomains). Private,
//! loopback and link-local addresses are refused unless a grant names that address
//! literally; the check is made on the addresses the name resolves to, and the host then
//! connects to exactly those addresses, so DNS cannot be used to reach them. Redirects are
//! new requests and pass the same check.
//!
//! The policy is a `WasiHttpHooks` implementation (wasmtime's split of policy from
//! mechanism); this capability's per-sandbox state is that policy and the `WasiHttpCtx`.

mod connect;
mod grant;
mod mock;
mod policy;

pub use grant::{internal_kind, is_internal, Destination, GrantError, HostPattern, HttpGrant};
pub use mock::{Answer, Seen, Upstreams};
pub use policy::HttpPolicy;

use super::{CallContext, Sandbox};
use crate::config::ConfigError;
use wasmtime::component::Linker;
use wasmtime_wasi_http::WasiHttpCtx;

pub const INTERFACES: &[&str] = &["wasi:http/outgoing-handler", "wasi:http/types"];

/// What one sandbox holds for HTTP.
pub struct HttpState {
    pub ctx: WasiHttpCtx,
    pub policy: HttpPolicy,
}

impl HttpState {
    pub fn new(call: &CallContext) -> Self {
        HttpState {
            ctx: WasiHttpCtx::new(),
            policy: HttpPolicy::new(call.clone()),
        }
    }
}

pub fn add_to_linker<T: Sandbox>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)
}

/// Parse the `grants.http` list of a plugin's config.
pub fn parse_grants(patterns: &[String]) -> Result<Vec<HttpGrant>, (usize, GrantError)> {
    patterns
        .iter()
        .enumerate()
        .map(|(i, g)| g.parse::<HttpGrant>().map_err(|e| (i, e)))
        .collect()
}

/// Config check: every `grants.http` entry is a valid pattern.
pub fn validate(file: &std::path::Path, plugin: &str, patterns: &[String]) -> Vec<ConfigError> {
    patterns
        .iter()
        .enumerate()
        .filter_map(|(i, g)| {
            let e = g.parse::<HttpGrant>().err()?;
            Some(ConfigError::plugin(
                file,
                plugin,
                &format!("grants.http[{i}]"),
                format!("`{g}` is not an HTTP grant: {}", e.reason),
                "write scheme://host[:port][/path-prefix], e.g. https://api.example.com/v1 or https://*.example.com",
            ))
        })
        .collect()
}
