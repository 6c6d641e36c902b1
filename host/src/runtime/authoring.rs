//! What plugin authors' tools need from the sandbox: the message of a Python exception or
//! a JavaScript error that crashed a plugin (read from what it printed on stderr), and the
//! fixed wall clock of a `chatops test` scenario.

use std::time::{Duration, SystemTime};

/// The message of an uncaught Python exception or JavaScript error, with where it was
/// raised when the traceback says: `ValueError: no such service (at app.py:27 in run)`.
pub fn exception(stderr: &str) -> Option<String> {
    python(stderr).or_else(|| javascript(stderr))
}

/// Python: the last traceback's last line is `Type: message`; the innermost frame is the
/// last `File "…", line N, in f` before it.
fn python(stderr: &str) -> Option<String> {
    let start = stderr.rfind("Traceback (most recent call last):")?;
    let tail = &stderr[start..];
    let mut location = None;
    let mut message = None;
    for line in tail.lines().skip(1) {
        let trimmed = line.trim();
        if let Some(frame) = trimmed.strip_prefix("File \"") {
            // File "app.py", line 27, in run
            let (file, rest) = frame.split_once('"')?;
            let line_no = rest
                .split(',')
                .find_map(|p| p.trim().strip_prefix("line "))
                .unwrap_or("?");
            let func = rest.split(", in ").nth(1).unwrap_or("").trim();
            location = Some(if func.is_empty() {
                format!("{file}:{line_no}")
            } else {
                format!("{file}:{line_no} in {func}")
            });
        } else if !line.starts_with(' ') && !trimmed.is_empty() {
            // The exception line (a chained traceback starts over with its own frames).
            if trimmed.starts_with("During handling") || trimmed.starts_with("The above") {
                continue;
            }
            message = Some(trimmed.to_string());
            break;
        }
    }
    let message = message?;
    Some(match location {
        Some(at) => format!("{message} (at {at})"),
        None => message,
    })
}

/// JavaScript (StarlingMonkey, under componentize-js): `Error: message` followed by a
/// `Stack:` section whose first frame is `function@file:line:column`.
fn javascript(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr.lines().collect();
    let at = lines.iter().rposition(|l| l.trim() == "Stack:")?;
    let message = lines[..at]
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| !l.is_empty())?
        .trim_start_matches("Error while running the guest: ")
        .to_string();
    // A throw that is not a `{ tag, val }` error of the contract reaches the bindings,
    // which name what was thrown; their own frame says nothing to the author.
    if let Some(thrown) = message
        .split_once("(received `")
        .and_then(|(_, rest)| rest.rsplit_once("`) specified for"))
        .map(|(thrown, _)| thrown.to_string())
    {
        return Some(thrown);
    }
    let frame = lines[at + 1..]
        .iter()
        .map(|l| l.trim())
        .find(|l| !l.is_empty());
    Some(match frame {
        Some(f) => format!("{message} (at {f})"),
        None => message,
    })
}

/// A wall clock that stands still (a scenario's `clock`).
pub struct FixedClock(Duration);

impl FixedClock {
    pub fn at(at: SystemTime) -> Self {
        FixedClock(
            at.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default(),
        )
    }
}

impl wasmtime_wasi::HostWallClock for FixedClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_tracebacks_give_their_message_and_place() {
        let stderr = "Traceback (most recent call last):\n  File \"/app/app.py\", line 27, in run\n    raise ValueError(\"the answer was not 42\")\nValueError: the answer was not 42\n";
        assert_eq!(
            exception(stderr).unwrap(),
            "ValueError: the answer was not 42 (at /app/app.py:27 in run)"
        );
        assert_eq!(exception("nothing to see"), None);
    }

    #[test]
    fn javascript_errors_give_their_message_and_frame() {
        let stderr = "Error: no such service\nStack:\n  run@hello.js:12:11\n  @hello.js:30:3\n";
        assert_eq!(
            exception(stderr).unwrap(),
            "Error: no such service (at run@hello.js:12:11)"
        );
        let stderr = "invalid variant tag value `undefined` (received `Error: asked to crash`) specified for `CommandError`\nStack:\n  export_guest_0_1_0$run@/tmp/x/sources/initializer.js:8208:17\n\nRedirecting call to abort() to mozalloc_abort\n";
        assert_eq!(exception(stderr).unwrap(), "Error: asked to crash");
    }
}
