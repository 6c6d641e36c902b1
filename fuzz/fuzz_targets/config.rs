//! The config loader: parse arbitrary TOML text as `chatops.toml` and run every check the
//! host runs at start (`bot::load_config` without the disk). Invariants: no panic; a parse
//! error points inside the text; a config that parses serialises and parses back to
//! itself; settling never keeps a plugin it reports broken.
#![no_main]

use chatops::config::{self, Loaded};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A folder that does not exist, so relative plugin paths never reach real files.
    let path = Path::new("/nonexistent-chatops-fuzz/chatops.toml");
    let mut config = match config::parse(path, text) {
        Ok(c) => c,
        Err(e) => {
            let shown = e.to_string();
            assert!(shown.contains("chatops.toml"), "{shown}");
            if let Some(rest) = e.location.strip_prefix("line ") {
                let line: usize = rest.split(',').next().unwrap().parse().unwrap();
                assert!(
                    line >= 1 && line <= text.matches('\n').count() + 1,
                    "{shown}"
                );
            }
            return;
        }
    };
    let shown = toml::to_string(&config);
    if let Ok(shown) = shown {
        let back = config::parse(path, &shown)
            .unwrap_or_else(|e| panic!("serialised config does not parse: {e}\n{shown}"));
        assert_eq!(back, config, "{shown}");
    }
    // The secrets file is read from disk; keep the fuzzer off the machine's files.
    config.secrets.file = None;
    let loaded = Loaded {
        path: path.to_path_buf(),
        config,
        broken: Default::default(),
    };
    let mut errors = config::validate(&loaded);
    errors.extend(chatops::capabilities::validate(&loaded));
    errors.extend(chatops::triggers::validate(&loaded));
    for e in &errors {
        assert!(!e.to_string().is_empty());
    }
    let host_level = errors.iter().any(|e| e.plugin.is_none());
    match config::settle(loaded, errors) {
        Ok(settled) => {
            assert!(!host_level);
            for name in settled.broken.keys() {
                assert!(!settled.config.plugins.contains_key(name), "{name}");
            }
            for (name, p) in &settled.config.plugins {
                let _ = settled.limits_for(name);
                for c in p.cooldowns.values() {
                    let _ = c.spans();
                }
            }
        }
        Err(errs) => assert!(host_level && !errs.is_empty()),
    }
});
