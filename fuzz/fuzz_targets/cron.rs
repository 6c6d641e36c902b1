//! The cron parser and the next-occurrence search the schedule clock runs every second.
//! Input: a cron expression. Invariants: no panic and no hang (libFuzzer's -timeout); an
//! accepted expression's next times, in UTC and in a zone with summer time, are strictly
//! after the time asked about.
#![no_main]

use chatops::runtime::validate::parse_cron;
use chatops::triggers::schedule::next_after;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.len() > 200 {
        return;
    }
    if let Err(e) = parse_cron(text) {
        assert!(e.contains("cron expression"), "{e}");
        return;
    }
    // 2026-03-29 00:30 UTC: Europe/Berlin moves its clocks forward that night.
    let start: DateTime<Utc> = DateTime::from_timestamp(1_774_744_200, 0).unwrap();
    for tz in [Tz::UTC, Tz::Europe__Berlin] {
        let mut after = start;
        for _ in 0..3 {
            match next_after(text, after, tz) {
                Ok(next) => {
                    assert!(
                        next > after,
                        "{text:?} in {tz}: {next} is not after {after}"
                    );
                    after = next;
                }
                Err(e) => {
                    assert!(e.contains("never fires"), "{e}");
                    break;
                }
            }
        }
    }
});
