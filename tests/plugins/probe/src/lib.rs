//! Probes what the sandbox lets through; replies say exactly what happened.
use chatops_sdk::http::{HttpError, Request};
use chatops_sdk::*;

struct Probe;

impl Plugin for Probe {
    fn describe() -> PluginInfo {
        PluginInfo::new("probe", "0.1.0", "Probes capabilities")
            .command(
                Command::new("fetch", "GET a URL")
                    .option(CommandOption::string("url", "where").required()),
            )
            .command(
                Command::new("fetch-many", "GET a URL several times")
                    .option(CommandOption::string("url", "where").required())
                    .option(CommandOption::integer("times", "how often").required()),
            )
            .command(
                Command::new("secret", "Read a secret")
                    .option(CommandOption::string("name", "which").required()),
            )
            .command(
                Command::new("leak", "Put a secret in progress and reply")
                    .option(CommandOption::string("name", "which").required()),
            )
            .command(Command::new("count", "Count calls in kv"))
            .command(
                Command::new("announce", "Post to a channel")
                    .option(CommandOption::string("channel", "where").required()),
            )
            .command(
                Command::new("setting", "Read a setting")
                    .option(CommandOption::string("key", "which").required()),
            )
            .request(
                Capability::Webhook("tokened".into()),
                "a hook with a bearer token",
            )
            .request(
                Capability::Webhook("signed".into()),
                "a hook with a signed body",
            )
            .request(Capability::Webhook("spare".into()), "a hook nobody grants")
            .request(schedule("tick"), "posts every second")
            .request(schedule("boom"), "fails every second")
            .request(schedule("slow"), "takes longer than a second")
            .request(Capability::Post("ops".into()), "event results")
            .http("http://127.0.0.1", "the fake upstream in tests")
            .secret("api-token", "authenticates to the upstream")
            .request(Capability::Kv, "counts calls")
    }

    fn on_event(event: Event) -> Result<Vec<Post>, CommandError> {
        Probe::event(event)
    }

    fn settings() -> Vec<Setting> {
        vec![
            Setting::new("url", "Where the upstream lives").required(),
            Setting::new("project", "Which project to report on"),
        ]
    }

    fn run(inv: Invocation) -> Result<Reply, CommandError> {
        let arg = |n: &str| inv.str(n).unwrap_or_default();
        match inv.command.as_str() {
            "fetch" => Ok(Reply::text(fetch(&arg("url")))),
            "fetch-many" => {
                let times = inv.integer("times").unwrap_or(1);
                let all: Vec<String> = (0..times).map(|_| fetch(&arg("url"))).collect();
                Ok(Reply::text(all.join("\n")))
            }
            "secret" => Ok(Reply::text(match secret(&arg("name")) {
                Ok(v) => format!("value={v}"),
                Err(SecretError::NotGranted(n)) => format!("not-granted {n}"),
                Err(SecretError::NotFound(n)) => format!("not-found {n}"),
                Err(e) => format!("error {}", e.message()),
            })),
            "leak" => {
                let v = secret(&arg("name"))?;
                progress(format!("working with {v}"));
                Ok(Reply::text(format!("the token is {v}")))
            }
            "count" => {
                let n = match kv::get("count") {
                    Ok(v) => {
                        v.map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
                            .unwrap_or(0)
                            + 1
                    }
                    Err(e) => return Ok(Reply::text(format!("kv error: {}", e.message()))),
                };
                kv::set("count", &n.to_le_bytes())?;
                Ok(Reply::text(format!("count={n}")))
            }
            "announce" => Ok(Reply::text(
                match post(&arg("channel"), "announcement from probe") {
                    Ok(()) => "posted".into(),
                    Err(e) => format!("post error: {}", e.message()),
                },
            )),
            "setting" => Ok(Reply::text(match config::get(&arg("key")) {
                Some(v) => format!("value={v} of {}", config::get_all().len()),
                None => "absent".into(),
            })),
            other => Err(CommandError::failed(format!("no command {other}"))),
        }
    }
}

fn schedule(name: &str) -> Capability {
    Capability::Schedule(ScheduleSpec {
        name: name.into(),
        cron: "* * * * * *".into(),
    })
}

fn fetch(url: &str) -> String {
    let token = secret("api-token").ok();
    let mut req = Request::get(url);
    if let Some(t) = &token {
        req = req.bearer(t);
    }
    match req.send() {
        Ok(r) => format!("status={} body={}", r.status, r.text()),
        Err(HttpError::Denied(u)) => format!("denied {u}"),
        Err(e) => format!("error {e}"),
    }
}

impl Probe {
    fn event(event: Event) -> Result<Vec<Post>, CommandError> {
        let post = |text: String| Ok(vec![Post::text("ops", text)]);
        match event {
            Event::Schedule(name) if name == "boom" => {
                Err(CommandError::failed("boom went the schedule"))
            }
            Event::Schedule(name) if name == "slow" => {
                std::thread::sleep(std::time::Duration::from_millis(2500));
                post("slow done".into())
            }
            Event::Schedule(name) => post(name),
            Event::Webhook(w) if w.body.starts_with(b"sleep") => {
                std::thread::sleep(std::time::Duration::from_millis(2000));
                post("slept".into())
            }
            Event::Webhook(w) => {
                let names: Vec<&str> = w.headers.iter().map(|(k, _)| k.as_str()).collect();
                post(format!(
                    "{} {} {}: {} [{}]",
                    w.method,
                    w.path,
                    w.body.len(),
                    String::from_utf8_lossy(&w.body),
                    names.join(",")
                ))
            }
        }
    }
}

plugin!(Probe);
