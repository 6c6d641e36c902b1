//! A readable difference between what a scenario expected and what the chat showed.

/// Lines prefixed `- ` (expected, missing), `+ ` (shown instead) and `  ` (same); for a
/// one-line text, a caret under the first character that differs.
pub fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    if a.len() <= 1 && b.len() <= 1 {
        let (x, y) = (
            a.first().copied().unwrap_or(""),
            b.first().copied().unwrap_or(""),
        );
        let at = x.chars().zip(y.chars()).take_while(|(p, q)| p == q).count();
        return format!(
            "- expected: {x}\n+ got:      {y}\n            {}^ differs here",
            " ".repeat(at)
        );
    }
    // Longest common subsequence of lines (texts in a chat are short).
    let (n, m) = (a.len(), b.len());
    let mut l = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            l[i][j] = if a[i] == b[j] {
                l[i + 1][j + 1] + 1
            } else {
                l[i + 1][j].max(l[i][j + 1])
            };
        }
    }
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            out.push(format!("  {}", a[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || l[i + 1][j] >= l[i][j + 1]) {
            out.push(format!("- {}", a[i]));
            i += 1;
        } else {
            out.push(format!("+ {}", b[j]));
            j += 1;
        }
    }
    format!("(- expected, + got)\n{}", out.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_points_at_the_difference() {
        let d = diff("Hello, Bob!", "Hello, bob!");
        assert!(d.contains("- expected: Hello, Bob!"), "{d}");
        assert!(d.contains("+ got:      Hello, bob!"), "{d}");
        assert!(d.contains(&format!("{}^", " ".repeat(12 + 7))), "{d}");
    }

    #[test]
    fn lines_show_what_was_missing_and_added() {
        let d = diff("a\nb\nc", "a\nx\nc");
        assert_eq!(d, "(- expected, + got)\n  a\n- b\n+ x\n  c");
    }
}
