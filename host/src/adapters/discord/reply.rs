//! Fitting replies into Discord's limits: 2000 characters a message; longer text is split
//! into a few messages, and past that attached as a file.

/// Discord's limit on message content, in characters.
pub const LIMIT: usize = 2000;
/// More parts than this and the text goes in a file instead.
pub const MAX_PARTS: usize = 3;

pub enum Shaped {
    Parts(Vec<String>),
    /// A short summary for the message, and the full text as `reply.txt`.
    File {
        summary: String,
        text: String,
    },
}

pub fn shape(text: &str) -> Shaped {
    let text = if text.trim().is_empty() {
        "(the command finished with no output)"
    } else {
        text
    };
    let parts = split(text, LIMIT);
    if parts.len() <= MAX_PARTS {
        return Shaped::Parts(parts);
    }
    let head: String = text.chars().take(300).collect();
    Shaped::File {
        summary: format!(
            "{head}…\n(the full reply, {} characters, is attached)",
            text.chars().count()
        ),
        text: text.to_string(),
    }
}

/// Split at line breaks where possible, never inside a character.
pub fn split(text: &str, limit: usize) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut cur_len = 0;
    for line in text.split_inclusive('\n') {
        let n = line.chars().count();
        if cur_len + n > limit && !cur.is_empty() {
            parts.push(std::mem::take(&mut cur));
            cur_len = 0;
        }
        if n > limit {
            let chars: Vec<char> = line.chars().collect();
            for chunk in chars.chunks(limit) {
                let s: String = chunk.iter().collect();
                if chunk.len() == limit {
                    parts.push(s);
                } else {
                    cur_len = s.chars().count();
                    cur = s;
                }
            }
            continue;
        }
        cur.push_str(line);
        cur_len += n;
    }
    if !cur.is_empty() {
        parts.push(cur);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_lines_and_limits() {
        assert_eq!(split("a\nb\nc", 4), ["a\nb\n", "c"]);
        let long = "é".repeat(4500);
        let parts = split(&long, LIMIT);
        assert_eq!(
            parts.iter().map(|p| p.chars().count()).collect::<Vec<_>>(),
            [2000, 2000, 500]
        );
        assert!(matches!(shape(&"x\n".repeat(5000)), Shaped::File { .. }));
        assert!(matches!(shape("hi"), Shaped::Parts(p) if p == ["hi"]));
    }
}
