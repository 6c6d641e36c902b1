//! How a webhook's sender proves itself, checked by the host before the plugin runs:
//! `Authorization: Bearer <secret>` or GitHub's `X-Hub-Signature-256: sha256=<hex>`, an
//! HMAC-SHA256 of the raw body. Both compared in constant time.

use crate::config::WebhookGrant;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// A hook's authentication, with the name of the secret that holds its key.
#[derive(Debug, Clone, PartialEq)]
pub enum HookAuth {
    Bearer(String),
    Hmac(String),
}

impl HookAuth {
    /// From a grant; `None` unless exactly one way is named (config validation says why).
    pub fn from_grant(g: &WebhookGrant) -> Option<HookAuth> {
        match (&g.bearer, &g.hmac_sha256) {
            (Some(s), None) => Some(HookAuth::Bearer(s.clone())),
            (None, Some(s)) => Some(HookAuth::Hmac(s.clone())),
            _ => None,
        }
    }

    pub fn secret(&self) -> &str {
        match self {
            HookAuth::Bearer(s) | HookAuth::Hmac(s) => s,
        }
    }

    /// Check a request. `header` looks a header up by its lower-case name.
    pub fn check<'a>(
        &self,
        key: &str,
        header: impl Fn(&str) -> Option<&'a str>,
        body: &[u8],
    ) -> Result<(), &'static str> {
        // An empty secret (say, an environment variable set to nothing) would let anyone
        // in: `Bearer ` matches it, and anyone can sign with an empty HMAC key.
        if key.is_empty() {
            return Err("this hook cannot authenticate anyone yet");
        }
        match self {
            HookAuth::Bearer(_) => {
                let given = header("authorization").ok_or("no Authorization header")?;
                let token = given
                    .strip_prefix("Bearer ")
                    .or_else(|| given.strip_prefix("bearer "))
                    .ok_or("the Authorization header is not a Bearer token")?;
                if bool::from(token.trim().as_bytes().ct_eq(key.as_bytes())) {
                    Ok(())
                } else {
                    Err("wrong bearer token")
                }
            }
            HookAuth::Hmac(_) => {
                let given = header(SIGNATURE_HEADER).ok_or("no X-Hub-Signature-256 header")?;
                let hex_sig = given
                    .trim()
                    .strip_prefix("sha256=")
                    .ok_or("the signature does not start with sha256=")?;
                let sig = hex::decode(hex_sig).map_err(|_| "the signature is not hex")?;
                let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes())
                    .map_err(|_| "the key cannot be used")?;
                mac.update(body);
                mac.verify_slice(&sig)
                    .map_err(|_| "the signature does not match the body")
            }
        }
    }
}

/// `sha256=<hex>` for `body` under `key`: what a sender puts in X-Hub-Signature-256.
pub fn sign(key: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> + 'a {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }

    #[test]
    fn bearer_tokens_must_match_exactly() {
        let auth = HookAuth::Bearer("s".into());
        let key = "token-123";
        assert!(auth
            .check(key, headers(&[("authorization", "Bearer token-123")]), b"")
            .is_ok());
        for (value, why) in [
            ("Bearer token-124", "wrong bearer token"),
            ("Bearer token-12", "wrong bearer token"),
            ("Bearer token-1234", "wrong bearer token"),
            ("Bearer ", "wrong bearer token"),
            ("Basic dG9rZW4tMTIz", "not a Bearer token"),
            ("token-123", "not a Bearer token"),
        ] {
            let got = auth
                .check(key, headers(&[("authorization", value)]), b"")
                .unwrap_err();
            assert!(got.contains(why), "{value}: {got}");
        }
        assert_eq!(
            auth.check(key, headers(&[]), b""),
            Err("no Authorization header")
        );
    }

    #[test]
    fn hmac_signatures_cover_the_exact_body() {
        let auth = HookAuth::Hmac("s".into());
        let key = "It's a Secret to Everybody";
        // GitHub's documented example.
        let body = b"Hello, World!";
        let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(sign(key, body), good);
        assert!(auth
            .check(key, headers(&[(SIGNATURE_HEADER, good)]), body)
            .is_ok());
        let upper = good.to_uppercase().replace("SHA256=", "sha256=");
        assert!(auth
            .check(key, headers(&[(SIGNATURE_HEADER, &upper)]), body)
            .is_ok());
        for (sig, body, why) in [
            (good, &b"Hello, World?"[..], "does not match"),
            (good, &b""[..], "does not match"),
            ("sha256=757107ea", &body[..], "does not match"),
            (
                "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
                &body[..],
                "sha256=",
            ),
            ("sha256=zz", &body[..], "not hex"),
            ("sha256=", &body[..], "does not match"),
        ] {
            let got = auth
                .check(key, headers(&[(SIGNATURE_HEADER, sig)]), body)
                .unwrap_err();
            assert!(got.contains(why), "{sig}: {got}");
        }
        assert!(auth
            .check("another key", headers(&[(SIGNATURE_HEADER, good)]), body)
            .is_err());
        assert!(auth.check(key, headers(&[]), body).is_err());
    }

    #[test]
    fn an_empty_secret_lets_nobody_in() {
        let body = b"{}";
        let sig = sign("", body);
        let auth = HookAuth::Hmac("s".into());
        assert!(auth
            .check("", headers(&[(SIGNATURE_HEADER, &sig)]), body)
            .is_err());
        let auth = HookAuth::Bearer("s".into());
        for value in ["Bearer ", "Bearer  ", "bearer \t"] {
            assert!(auth
                .check("", headers(&[("authorization", value)]), b"")
                .is_err());
        }
    }

    #[test]
    fn a_grant_names_exactly_one_way() {
        let both = WebhookGrant {
            bearer: Some("a".into()),
            hmac_sha256: Some("b".into()),
        };
        assert_eq!(HookAuth::from_grant(&both), None);
        assert_eq!(HookAuth::from_grant(&WebhookGrant::default()), None);
        let one = WebhookGrant {
            bearer: None,
            hmac_sha256: Some("gh".into()),
        };
        assert_eq!(
            HookAuth::from_grant(&one),
            Some(HookAuth::Hmac("gh".into()))
        );
    }
}
