//! The text command parser: `tokenize` any line, then parse the words against commands
//! with typed options. Invariants: no panic; quoting the words gives them back; the
//! command line the host shows for parsed arguments parses back to the same arguments.
#![no_main]

use chatops::dispatch::parse::{arguments, quote, tokenize};
use chatops::model::{command_line, Command, CommandOption, OptionChoice, OptionKind};
use libfuzzer_sys::fuzz_target;

fn opt(name: &str, kind: OptionKind, required: bool, choices: &[(&str, &str)]) -> CommandOption {
    CommandOption {
        name: name.into(),
        description: format!("the {name}"),
        kind,
        required,
        choices: choices
            .iter()
            .map(|(n, v)| OptionChoice {
                name: (*n).into(),
                value: (*v).into(),
            })
            .collect(),
    }
}

fn commands() -> Vec<Command> {
    vec![
        Command {
            name: "deploy".into(),
            description: "Deploy".into(),
            options: vec![
                opt("service", OptionKind::String, true, &[]),
                opt(
                    "env",
                    OptionKind::String,
                    true,
                    &[("Production", "prod"), ("Staging", "staging")],
                ),
                opt("canary", OptionKind::Boolean, false, &[]),
                opt("replicas", OptionKind::Integer, false, &[]),
                opt("ratio", OptionKind::Number, false, &[]),
                opt("who", OptionKind::User, false, &[]),
                opt("where", OptionKind::Channel, false, &[]),
                opt("role", OptionKind::Role, false, &[]),
                opt("note", OptionKind::String, false, &[]),
            ],
            confirm: true,
        },
        Command {
            name: "echo".into(),
            description: "Echo".into(),
            options: vec![opt("text", OptionKind::String, true, &[])],
            confirm: false,
        },
        Command {
            name: "roll".into(),
            description: "Roll".into(),
            options: vec![
                opt("dice", OptionKind::String, false, &[]),
                opt(
                    "show",
                    OptionKind::String,
                    false,
                    &[("Each", "each"), ("Sum", "sum")],
                ),
            ],
            confirm: false,
        },
    ]
}

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(words) = tokenize(line) else {
        return;
    };
    // Quoting the words and reading them back gives the same words.
    let quoted: Vec<String> = words.iter().map(|w| quote(w)).collect();
    let again = tokenize(&quoted.join(" ")).expect("quoted words tokenize");
    assert_eq!(again, words, "quoted as {quoted:?}");
    for cmd in commands() {
        let Ok(args) = arguments(&cmd, &words) else {
            continue;
        };
        // What the host shows (confirmation, audit) can be typed back.
        let shown = command_line(&cmd.name, &args);
        let words = tokenize(&shown).unwrap_or_else(|e| panic!("{shown:?}: {e}"));
        assert_eq!(words[0], cmd.name);
        let back = arguments(&cmd, &words[1..]).unwrap_or_else(|e| panic!("{shown:?}: {e}"));
        assert_eq!(back, args, "shown as {shown:?}");
    }
});
