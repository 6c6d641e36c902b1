//! The HTTP grant matcher. Input: a grant pattern, a newline, a URL. Invariants: no panic;
//! a grant shows as text that parses back to the same grant; when the grant allows the
//! URL, the scheme, port and host really match (a `*.` grant only strict subdomains, an IP
//! grant only that address in whatever notation), and the path a server would see after
//! decoding `%XX`, reading `\` as `/`, dropping `;params` and resolving dot segments
//! starts with the grant's prefix at a segment boundary and never had `.` or `..` in it.
//! Any IPv4 literal in the notations resolvers accept (decimal, octal, hex, 1 to 4 parts)
//! is recognised as that address, so the refusal hint can say what it is.
#![no_main]

use chatops::capabilities::http::{Destination, HostPattern, HttpGrant};
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr};

/// `inet_aton`'s reading of a host: 1 to 4 dot-separated numbers, each decimal, octal
/// (leading 0) or hex (0x); the last fills the remaining bytes.
fn inet_aton(host: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = host.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let mut nums = Vec::new();
    for p in &parts {
        let (digits, radix) = if let Some(h) = p.strip_prefix("0x").or(p.strip_prefix("0X")) {
            (h, 16)
        } else if p.len() > 1 && p.starts_with('0') {
            (&p[1..], 8)
        } else {
            (*p, 10)
        };
        if p.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            return None;
        }
        let n = if digits.is_empty() {
            0
        } else {
            u64::from_str_radix(digits, radix).ok()?
        };
        nums.push(n);
    }
    let (last, first) = nums.split_last()?;
    if first.iter().any(|n| *n > 255) || *last >= 1u64 << (8 * (4 - first.len())) {
        return None;
    }
    let mut v: u32 = 0;
    for (i, n) in first.iter().enumerate() {
        v |= (*n as u32) << (24 - 8 * i);
    }
    Some(Ipv4Addr::from(v | *last as u32))
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// The path's segments as a lenient server would see them, and whether any was `.`/`..`.
fn server_view(path: &str) -> (Vec<String>, bool) {
    let b = path.as_bytes();
    let mut decoded = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                decoded.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        decoded.push(b[i]);
        i += 1;
    }
    let text = String::from_utf8_lossy(&decoded).replace('\\', "/");
    let mut dots = false;
    let mut out: Vec<String> = Vec::new();
    for seg in text.split('/') {
        let seg = seg.split(';').next().unwrap_or("");
        match seg {
            "" => {}
            "." => dots = true,
            ".." => {
                dots = true;
                out.pop();
            }
            s => out.push(s.to_string()),
        }
    }
    (out, dots)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (pattern, url) = text.split_once('\n').unwrap_or((text, ""));
    let grant = pattern.parse::<HttpGrant>().ok();
    if let Some(g) = &grant {
        let shown = g.to_string();
        let back: HttpGrant = shown.parse().unwrap_or_else(|e| {
            panic!("{pattern:?} shows as {shown:?}, which does not parse: {e}")
        });
        assert_eq!(&back, g, "{pattern:?} shows as {shown:?}");
    }
    let Ok(uri) = url.parse::<http::Uri>() else {
        return;
    };
    let Some(dest) = Destination::from_uri(&uri) else {
        return;
    };
    if let Some(v4) = inet_aton(&dest.host) {
        assert_eq!(dest.ip(), Some(IpAddr::V4(v4)), "{:?}", dest.host);
    }
    let Some(g) = grant else {
        return;
    };
    if !g.allows(&dest) {
        return;
    }
    assert_eq!(g.scheme, dest.scheme);
    assert_eq!(g.port, dest.port);
    match &g.host {
        HostPattern::Name(h) => assert_eq!(*h, dest.host),
        HostPattern::Subdomains(s) => {
            let sub = dest.host.strip_suffix(s.as_str()).expect("subdomain");
            assert!(
                sub.len() > 1 && sub.ends_with('.'),
                "{:?} for *.{s}",
                dest.host
            );
        }
        HostPattern::Ip(ip) => assert_eq!(dest.ip(), Some(*ip)),
    }
    if !g.path.is_empty() {
        let (prefix, _) = server_view(&g.path);
        let (path, dots) = server_view(&dest.path);
        assert!(
            !dots,
            "{:?} allows {:?}, which has dot segments",
            g.path, dest.path
        );
        assert!(
            path.starts_with(&prefix),
            "{:?} allows {:?}, which a server reads as /{}",
            g.path,
            dest.path,
            path.join("/")
        );
    }
});
