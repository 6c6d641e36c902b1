//! Every way a plugin can misbehave; the suite proves each is contained.
use chatops_sdk::*;

struct Misbehave;

impl Plugin for Misbehave {
    fn describe() -> PluginInfo {
        PluginInfo::new("misbehave", "0.1.0", "Misbehaves on purpose")
            .command(Command::new("spin", "Loop forever"))
            .command(Command::new("hog", "Allocate without end"))
            .command(Command::new("boom", "Panic"))
            .command(Command::new("nap", "Sleep for a long time"))
            .command(
                Command::new("doze", "Sleep a few seconds, then answer")
                    .option(CommandOption::integer("seconds", "how long").required()),
            )
            .command(Command::new("flood", "Reply with a megabytes-long text"))
            .command(Command::new("chatty", "Print without end on stdout"))
            .command(Command::new("wipe", "Pretend to wipe everything").confirm())
            .command(
                Command::new("launch", "Pretend to launch; `prod` asks first")
                    .option(CommandOption::string("target", "where to").required()),
            )
    }

    fn confirm(inv: &Invocation) -> Option<String> {
        match inv.str("target").unwrap_or_default().as_str() {
            "prod" => Some(format!("Launch to prod for {}?", inv.user.name)),
            // A confirmation hook that never answers is stopped like any command.
            "spin" => loop {
                std::hint::black_box(0);
            },
            _ => None,
        }
    }

    fn run(inv: Invocation) -> Result<Reply, CommandError> {
        match inv.command.as_str() {
            "spin" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "hog" => {
                let mut keep: Vec<Vec<u8>> = Vec::new();
                loop {
                    keep.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&keep);
                }
            }
            "boom" => panic!("the flux capacitor broke"),
            "nap" => {
                std::thread::sleep(std::time::Duration::from_secs(3600));
                Ok(Reply::text("slept"))
            }
            "doze" => {
                let s = inv.integer("seconds").unwrap_or(1).clamp(0, 60) as u64;
                std::thread::sleep(std::time::Duration::from_secs(s));
                Ok(Reply::text(format!("slept {s}s")))
            }
            "flood" => Ok(Reply::text("x".repeat(3 << 20))),
            "chatty" => {
                for i in 0..200_000 {
                    println!("line {i} of useless output");
                }
                Ok(Reply::text("done talking"))
            }
            "launch" => Ok(Reply::text(format!(
                "launched to {}",
                inv.str("target").unwrap_or_default()
            ))),
            "wipe" => Ok(Reply::text(format!(
                "wiped everything, as {} asked",
                inv.user.name
            ))),
            other => Err(CommandError::failed(format!("no command {other}"))),
        }
    }
}

plugin!(Misbehave);
