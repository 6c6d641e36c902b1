//! The webhook authentication check. Input: key, header value and body, separated by the
//! first two newlines. Invariants: no panic; a request passes Bearer only with exactly the
//! key, and HMAC only with the signature of exactly this body under this key; a request
//! signed by `sign` always passes; an empty key never lets anything through.
#![no_main]

use chatops::triggers::webhook::auth::{sign, HookAuth, SIGNATURE_HEADER};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == b'\n');
    let key = parts.next().unwrap_or_default();
    let value = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    let (Ok(key), Ok(value)) = (std::str::from_utf8(key), std::str::from_utf8(value)) else {
        return;
    };
    let bearer = HookAuth::Bearer("s".into());
    let hmac = HookAuth::Hmac("s".into());
    let header = |name: &str| (name == "authorization").then_some(value);
    if bearer.check(key, header, body).is_ok() {
        assert!(!key.is_empty(), "an empty key let {value:?} in");
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .unwrap();
        assert_eq!(token.trim(), key);
    }
    let header = |name: &str| (name == SIGNATURE_HEADER).then_some(value);
    if hmac.check(key, header, body).is_ok() {
        assert!(!key.is_empty(), "an empty key let {value:?} in");
        assert_eq!(value.trim().to_ascii_lowercase(), sign(key, body));
    }
    // The real signature always passes, and the same signature of another body does not.
    if !key.is_empty() {
        let good = sign(key, body);
        let header = |name: &str| (name == SIGNATURE_HEADER).then_some(good.as_str());
        assert!(hmac.check(key, header, body).is_ok());
        let mut other = body.to_vec();
        other.push(b'x');
        assert!(hmac.check(key, header, &other).is_err());
        let token = format!("Bearer {key}");
        let header = |name: &str| (name == "authorization").then_some(token.as_str());
        assert_eq!(bearer.check(key, header, body).is_ok(), key.trim() == key);
    }
});
