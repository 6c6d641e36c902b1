//! `roll`, `flip` and `countdown`: typed options, choices, usage errors and progress.
use chatops_sdk::*;
use std::hash::{BuildHasher, Hasher};

struct Dice;

impl Plugin for Dice {
    fn describe() -> PluginInfo {
        PluginInfo::new(
            "dice",
            env!("CARGO_PKG_VERSION"),
            "Dice, coins and countdowns",
        )
        .command(
            Command::new("roll", "Roll dice, e.g. 2d6+1")
                .option(CommandOption::string(
                    "dice",
                    "NdM[+K]: N dice of M sides plus K (default 1d6)",
                ))
                .option(
                    CommandOption::string("show", "Show the total or every die")
                        .choice("total", "total")
                        .choice("each", "each"),
                ),
        )
        .command(Command::new("flip", "Flip a coin"))
        .command(
            Command::new("countdown", "Count down out loud, then lift off")
                .option(CommandOption::integer("seconds", "1 to 60").required()),
        )
    }

    fn run(inv: Invocation) -> Result<Reply, CommandError> {
        match inv.command.as_str() {
            "roll" => roll(&inv),
            "flip" => Ok(Reply::text(if random(2) == 0 { "Heads" } else { "Tails" })),
            "countdown" => countdown(&inv),
            other => Err(CommandError::failed(format!(
                "dice has no command `{other}`"
            ))),
        }
    }
}

fn roll(inv: &Invocation) -> Result<Reply, CommandError> {
    let spec = inv.str("dice").unwrap_or_else(|| "1d6".into());
    let (count, sides, bonus) = parse_dice(&spec)?;
    let rolls: Vec<u64> = (0..count).map(|_| random(sides) + 1).collect();
    let total = rolls.iter().sum::<u64>() as i64 + bonus;
    let text = match inv.str("show").as_deref() {
        Some("each") => {
            let each: Vec<String> = rolls.iter().map(u64::to_string).collect();
            format!(
                "{} rolled {spec}: [{}] = {total}",
                inv.user.name,
                each.join(", ")
            )
        }
        _ => format!("{} rolled {spec}: {total}", inv.user.name),
    };
    Ok(Reply::text(text))
}

const MAX_BONUS: u64 = 1_000_000;

fn parse_dice(spec: &str) -> Result<(u64, u64, i64), CommandError> {
    let bad = || {
        CommandError::usage(format!(
            "`{spec}` is not dice: write NdM or NdM+K, like 2d6+1"
        ))
    };
    let spec = spec.trim().to_ascii_lowercase();
    let (dice, bonus) = match spec.split_once(['+', '-']) {
        Some((d, k)) => {
            let k: i64 = k.parse().map_err(|_| bad())?;
            (d.to_string(), if spec.contains('-') { -k } else { k })
        }
        None => (spec.clone(), 0),
    };
    let (n, m) = dice.split_once('d').ok_or_else(bad)?;
    let n: u64 = if n.is_empty() {
        1
    } else {
        n.parse().map_err(|_| bad())?
    };
    let m: u64 = m.parse().map_err(|_| bad())?;
    if !(1..=100).contains(&n) || !(2..=1000).contains(&m) {
        return Err(CommandError::usage("roll 1 to 100 dice of 2 to 1000 sides"));
    }
    // Bounded, so the total (at most 100 × 1000 + the bonus) can never overflow.
    if bonus.unsigned_abs() > MAX_BONUS {
        return Err(CommandError::usage(format!(
            "the bonus is at most ±{MAX_BONUS}"
        )));
    }
    Ok((n, m, bonus))
}

fn countdown(inv: &Invocation) -> Result<Reply, CommandError> {
    let seconds = inv.integer("seconds").unwrap_or(0);
    if !(1..=60).contains(&seconds) {
        return Err(CommandError::usage(format!(
            "seconds must be 1 to 60, not {seconds}"
        )));
    }
    for left in (1..=seconds).rev() {
        progress(format!("{left}…"));
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    Ok(Reply::text("Liftoff!"))
}

/// A uniform-enough number in 0..n, seeded by the host's WASI random source.
fn random(n: u64) -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(n);
    h.finish() % n
}

plugin!(Dice);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dice_and_bonuses_are_bounded() {
        assert_eq!(parse_dice("2d6+1").unwrap(), (2, 6, 1));
        assert_eq!(parse_dice("d20-3").unwrap(), (1, 20, -3));
        for bad in [
            "2d6+9223372036854775807",
            "2d6-1000001",
            "0d6",
            "2d1",
            "101d6",
            "xd6",
        ] {
            assert!(
                matches!(parse_dice(bad), Err(CommandError::Usage(_))),
                "{bad}"
            );
        }
    }
}
