//! Golden tests: each bad config in tests/golden/NAME.toml gives exactly the message in
//! tests/golden/NAME.expected (with the temporary directory written as `$DIR`).

use chatops::runtime::sha256_hex;
use chatops_tests::*;
use std::path::Path;

/// Load the config the way `chatops check` and the host do; return every message.
async fn messages(cfg: &Path) -> Vec<String> {
    match chatops::bot::load_config(cfg) {
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
        Ok(_) => match chatops::bot::Bot::start(Some(cfg)).await {
            Err(e) => vec![e.to_string()],
            Ok(bot) => bot
                .dispatcher
                .disabled()
                .into_iter()
                .map(|(name, why)| format!("{name}: {why}"))
                .collect(),
        },
    }
}

#[tokio::test]
async fn bad_configs_give_messages_that_name_the_fix() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden");
    let mut cases: Vec<_> = std::fs::read_dir(&golden)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 6, "golden cases missing: {cases:?}");
    let mut failures = Vec::new();
    for case in cases {
        let dir = tempfile::tempdir().unwrap();
        let echo = write_plugins(dir.path(), &["echo"]).remove(0);
        let digest = sha256_hex(&std::fs::read(&echo).unwrap());
        // A plugin over one of Discord's limits (26 choices), refused at load.
        let over = write_plugins(dir.path(), &["overlimit"]).remove(0);
        let over_digest = sha256_hex(&std::fs::read(&over).unwrap());
        let text = std::fs::read_to_string(&case)
            .unwrap()
            .replace("$ECHO_SHA256", &digest)
            .replace("$OVERLIMIT_SHA256", &over_digest);
        let cfg = dir.path().join("chatops.toml");
        std::fs::write(&cfg, text).unwrap();
        let secrets = dir.path().join("secrets.toml");
        std::fs::write(&secrets, "token = \"abcdef\"\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o644)).unwrap();

        let got = messages(&cfg)
            .await
            .join("\n")
            .replace(&dir.path().display().to_string(), "$DIR")
            .replace(&digest, "$ECHO_SHA256")
            .replace(&over_digest, "$OVERLIMIT_SHA256");
        let expected_path = case.with_extension("expected");
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&expected_path, format!("{got}\n")).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if got.trim() != expected.trim() {
            failures.push(format!(
                "{}:\n  expected: {}\n  got:      {}",
                case.display(),
                expected.trim(),
                got.trim()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "golden mismatches (UPDATE_GOLDEN=1 rewrites them after review):\n{}",
        failures.join("\n")
    );
}
