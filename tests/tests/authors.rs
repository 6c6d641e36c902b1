//! Plugin authors' clients: a plugin built on a third-party WASI HTTP client (wstd, from
//! crates.io) is refused an ungranted URL with `http-request-denied`, whatever order it
//! writes the body in.

use chatops::capabilities::Grants;
use chatops::dispatch::Kind;
use chatops_tests::Chat;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wstd_sees_http_request_denied_for_an_ungranted_url() {
    let grants = Grants {
        http: vec!["https://granted.example.com".parse().unwrap()],
        ..Grants::default()
    };
    let chat = Chat::dev(&["wstd-client"], grants, &[]).await;
    // wstd starts the request, writes the body, then reads the answer: the refusal must
    // not show up as a broken body stream ("connection reset").
    for line in [
        "fetch POST https://evil.example.net/upload body=some-data",
        "fetch GET https://evil.example.net/",
        "fetch PUT http://127.0.0.1:9/x body=x",
    ] {
        let r = chat.say(line).await;
        assert_eq!(r.kind, Kind::Failed, "{line}: {}", r.text);
        assert!(
            r.text.contains("http-request-denied"),
            "{line}: the plugin saw something else: {}",
            r.text
        );
        assert!(
            r.notices.iter().any(|n| n.starts_with("refused")),
            "{line}: the admin is told: {:?}",
            r.notices
        );
    }
}
