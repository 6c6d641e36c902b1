//! Validation errors of the fakes' OpenAPI checks (Discord's, GitHub's) as one readable line
//! each.

use jsonschema::error::ValidationErrorKind;
use jsonschema::ValidationError;

/// One line per validation error; `root` names the instance itself (`(body)`, `(root)`).
pub fn describe_all<'a>(
    errors: impl Iterator<Item = ValidationError<'a>>,
    root: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    for e in errors {
        describe(&e, 0, root, &mut out);
    }
    out
}

/// One line per error. A failed `anyOf`/`oneOf` says only "not valid under any of the
/// schemas", so the branch the client most likely meant is reported instead: the one
/// with the fewest `enum`/`const` mismatches (those are the discriminators, like a
/// callback's `type`), then the fewest errors.
fn describe(e: &ValidationError<'_>, depth: usize, root: &str, out: &mut Vec<String>) {
    if let ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } =
        e.kind()
    {
        // A branch that fails on the value's own type (e.g. the `null` of a nullable
        // object) or on an enum/const is one the client did not mean.
        let here = e.instance_path().as_str();
        let discriminators = |b: &[ValidationError<'_>]| {
            b.iter()
                .filter(|inner| match inner.kind() {
                    ValidationErrorKind::Enum { .. } | ValidationErrorKind::Constant { .. } => true,
                    ValidationErrorKind::Type { .. } => inner.instance_path().as_str() == here,
                    _ => false,
                })
                .count()
        };
        let best = context
            .iter()
            .filter(|b| !b.is_empty())
            .min_by_key(|b| (discriminators(b), b.len()));
        if let Some(best) = best {
            if depth < 6 {
                for inner in best {
                    describe(inner, depth + 1, root, out);
                }
                return;
            }
        }
    }
    let at = e.instance_path().as_str();
    let at = if at.is_empty() { root } else { at };
    // Messages start with the offending value, which may be a whole 2001-character
    // string; keep its head and the message's tail, which says what is wrong.
    let value = e.instance().to_string();
    let message = e.to_string();
    let message = match message.strip_prefix(&value) {
        Some(rest) => format!("{}{rest}", shorten(&value, 60)),
        None => message,
    };
    out.push(format!("{at}: {}", shorten(&message, 300)));
}

pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let head: String = s.chars().take(max).collect();
    format!("{head}…")
}
