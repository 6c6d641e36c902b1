//! Administration from the chat: `chatops …` for admins only, each action audited and
//! answered ephemerally, the config edited in place (comments kept) and in effect at once.

use chatops::dispatch::Kind;
use chatops::runtime::sha256_hex;
use chatops_tests::upstream::Upstream;
use chatops_tests::*;

/// A component with one more custom section: the same plugin, another build (digest).
fn rebuilt(bytes: &[u8]) -> Vec<u8> {
    let name = b"chatops-test-rebuild";
    let data = b"2";
    let mut out = bytes.to_vec();
    out.push(0); // custom section
    out.push((1 + name.len() + data.len()) as u8);
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.extend_from_slice(data);
    out
}

#[tokio::test]
async fn admins_grant_configure_approve_and_audit_from_the_chat() {
    let up = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let wasm = write_plugins(dir.path(), &["probe"]).remove(0);
    let cfg = dir.path().join("chatops.toml");
    std::fs::write(
        &cfg,
        format!(
            "# ops team's bot\n[host]\nadmins = {{ users = [\"id-root\"] }}\n\n[secrets]\nfile = \"secrets.toml\"\n\n# the probe: keep it on a short leash\n[plugins.probe]\npath = \"probe.wasm\"\nsha256 = \"{}\"\n",
            sha256_hex(&std::fs::read(&wasm).unwrap())
        ),
    )
    .unwrap();
    let secrets = dir.path().join("secrets.toml");
    std::fs::write(&secrets, "api-token = \"tok-4f9a2c7e1b\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).unwrap();
    let chat = Chat::from_config(&cfg).await.with_dir(dir);
    let alice = caller("alice", &[]);
    let root = caller("root", &[]);
    let status = up.url("/v1/status");
    let origin = format!("http://{}", up.addr);

    // not granted yet
    let r = chat.say_as(&alice, &format!("fetch {status}")).await;
    assert!(r.text.contains("denied"), "{}", r.text);

    // a non-admin is refused, nothing changes, and the refusal is audited
    let before = std::fs::read_to_string(&cfg).unwrap();
    let r = chat
        .say_as(&alice, &format!("chatops grant probe http {origin}"))
        .await;
    assert_eq!(r.kind, Kind::Denied, "{r:?}");
    assert!(r.ephemeral);
    assert!(r.text.contains("is for admins"), "{}", r.text);
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), before);
    assert!(!chat
        .say_as(&alice, "help")
        .await
        .text
        .contains("As an admin"));

    // the admin grants from the chat: the file keeps its comments, and it works at once
    let r = chat
        .say_as(&root, &format!("chatops grant probe http {origin}"))
        .await;
    assert_eq!(r.kind, Kind::Reply, "{r:?}");
    assert!(r.ephemeral);
    assert!(
        r.text
            .starts_with(&format!("Granted http {origin} to `probe`"))
            && r.text.contains("In effect now."),
        "{}",
        r.text
    );
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        text.contains("# ops team's bot") && text.contains("# the probe: keep it on a short leash"),
        "{text}"
    );
    assert!(text.contains(&format!("http = [\"{origin}\"]")), "{text}");
    assert_eq!(
        chat.say_as(&alice, &format!("fetch {status}")).await.text,
        "status=200 body=all systems go"
    );
    let listed = chat.say_as(&root, "chatops plugins").await.text;
    assert!(
        listed.contains("✓ probe 0.1.0") && listed.contains(&format!("granted:  http {origin}")),
        "{listed}"
    );

    // settings, and a bad one said plainly
    let r = chat
        .say_as(&root, "chatops config probe project Apollo 11")
        .await;
    assert!(
        r.text.contains("Set `project` of `probe` to \"Apollo 11\""),
        "{}",
        r.text
    );
    assert!(chat
        .ok("setting project")
        .await
        .starts_with("value=Apollo 11"));
    let r = chat.say_as(&root, "chatops grant probe teleport x").await;
    assert_eq!(r.kind, Kind::Failed, "{r:?}");
    assert!(
        r.text.contains("`teleport` is not a capability"),
        "{}",
        r.text
    );
    let r = chat.say_as(&root, "chatops launch").await;
    assert_eq!(r.kind, Kind::Usage, "{r:?}");

    // a new build is disabled until approved; approving asks first and pins that build
    let path = chat
        .bot
        .config
        .clone()
        .unwrap()
        .with_file_name("probe.wasm");
    let new = rebuilt(&std::fs::read(&path).unwrap());
    std::fs::write(&path, &new).unwrap();
    let r = chat.say_as(&root, "chatops reload").await;
    assert!(r.text.contains("plugin `probe` disabled"), "{}", r.text);
    assert_eq!(chat.say_as(&alice, "count").await.kind, Kind::Usage);
    let r = chat.say_as(&root, "chatops approve probe").await;
    let Kind::Confirm { token } = r.kind.clone() else {
        panic!("approve should ask first: {r:?}")
    };
    assert!(
        r.text.contains(&format!("→ {}", sha256_hex(&new))),
        "{}",
        r.text
    );
    let progress: std::sync::Arc<dyn chatops::capabilities::ProgressSink> = chat.progress.clone();
    assert_eq!(
        chat.bot
            .dispatcher
            .confirm(&alice, &token, true, progress.clone())
            .await
            .kind,
        Kind::Denied
    );
    let done = chat
        .bot
        .dispatcher
        .confirm(&root, &token, true, progress)
        .await;
    assert_eq!(done.kind, Kind::Reply, "{done:?}");
    assert!(done.text.contains("Approved `probe`"), "{}", done.text);
    assert!(std::fs::read_to_string(&cfg)
        .unwrap()
        .contains(&sha256_hex(&new)));
    assert_eq!(
        chat.say_as(&alice, &format!("fetch {status}")).await.text,
        "status=200 body=all systems go"
    );

    // each call's record says what it used or was refused
    assert_eq!(
        chat.say_as(&alice, "secret api-token").await.text,
        "not-granted api-token"
    );
    let store = chat.bot.dispatcher.store().unwrap().clone();
    let records = store.audit_recent(100).unwrap();
    let fetches: Vec<&str> = records
        .iter()
        .filter(|e| e.command == "fetch")
        .map(|e| e.capabilities.as_str())
        .collect();
    assert_eq!(
        fetches.first(),
        Some(&format!("refused http {origin}; refused secret api-token").as_str()),
        "{records:?}"
    );
    assert_eq!(
        fetches.last(),
        Some(&format!("http {origin}; refused secret api-token").as_str()),
        "{records:?}"
    );
    assert_eq!(
        records.last().unwrap().capabilities,
        "refused secret api-token"
    );
    assert!(chat
        .say_as(&root, "chatops audit plugin=probe command=secret")
        .await
        .text
        .contains("(used: refused secret api-token)"));

    // the trail: the refusal and every admin action, filtered from the chat
    let trail = chat
        .say_as(
            &root,
            "chatops audit plugin=chatops outcome=denied since=1h",
        )
        .await
        .text;
    assert!(
        trail.contains("alice (id-alice)") && trail.contains("chatops grant probe http"),
        "{trail}"
    );
    assert!(!trail.contains("root (id-root)"), "{trail}");
    let trail = chat
        .say_as(&root, "chatops audit plugin=chatops user=root")
        .await
        .text;
    for action in [
        "chatops grant probe http",
        "chatops config probe project",
        "chatops approve probe",
    ] {
        assert!(trail.contains(action), "{action} missing: {trail}");
    }
    let r = chat.say_as(&root, "chatops audit since=soon").await;
    assert_eq!(r.kind, Kind::Usage, "{r:?}");
    assert!(chat
        .say_as(&root, "help")
        .await
        .text
        .contains("As an admin"));

    // a secret value pasted where a setting goes is not echoed back to the chat
    chat.say_as(&root, "chatops grant probe secret api-token")
        .await;
    let r = chat
        .say_as(&root, "chatops config probe project tok-4f9a2c7e1b")
        .await;
    assert!(
        !r.text.contains("tok-4f9a2c7e1b") && r.text.contains("[redacted]"),
        "{}",
        r.text
    );
}
