//! Character classes and the regular expressions client-go's parser relies on,
//! written out by hand.

/// `^'([^']*)'$`
pub(crate) fn dict_key(text: &str) -> Option<&str> {
    let inner = text.strip_prefix('\'')?.strip_suffix('\'')?;
    (!inner.contains('\'')).then_some(inner)
}

/// `^(-?[\d]*)(:-?[\d]*)?(:-?[\d]*)?$`, with absent groups as empty strings.
pub(crate) fn slice_groups(text: &str) -> Option<[&str; 3]> {
    let bytes = text.as_bytes();
    let number_end = |mut i: usize| {
        if bytes.get(i) == Some(&b'-') {
            i += 1;
        }
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    };
    let mut groups = [""; 3];
    let first = number_end(0);
    groups[0] = &text[..first];
    let mut i = first;
    for group in groups.iter_mut().skip(1) {
        if bytes.get(i) == Some(&b':') {
            let end = number_end(i + 1);
            *group = &text[i..end];
            i = end;
        }
    }
    (i == text.len()).then_some(groups)
}

/// `^([^!<>=]+)([!<>=]+)(.+?)$`: the left side, the operator and the right side.
pub(crate) fn split_filter(text: &str) -> Option<(&str, &str, &str)> {
    let is_op = |c: char| matches!(c, '!' | '<' | '>' | '=');
    let op_start = text.find(is_op)?;
    if op_start == 0 {
        return None;
    }
    let rest = &text[op_start..];
    let run = rest.find(|c: char| !is_op(c)).unwrap_or(rest.len());
    let op_len = if run == rest.len() {
        // The right side needs at least one character, so the operator gives one back.
        if run < 2 {
            return None;
        }
        run - 1
    } else {
        run
    };
    let right = &rest[op_len..];
    if right.contains('\n') {
        return None;
    }
    Some((&text[..op_start], &rest[..op_len], right))
}

/// client-go's `isTerminator`: the characters that end a field name or identifier.
pub(crate) fn is_terminator(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => matches!(
            c,
            ' ' | '\t' | '\r' | '\n' | '.' | ',' | '[' | ']' | '$' | '@' | '{' | '}'
        ),
    }
}

/// Go's `unicode.IsDigit` (category Nd), approximated: numeric characters minus the
/// common non-decimal ones (superscripts, fractions, Roman numerals, circled numbers).
pub(crate) fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || (!c.is_ascii() && c.is_numeric() && !is_non_decimal_number(c))
}

/// Go's `unicode.IsLetter`, approximated the same way.
fn is_letter(c: char) -> bool {
    c.is_alphabetic() && !is_non_decimal_number(c)
}

fn is_non_decimal_number(c: char) -> bool {
    matches!(c,
        '\u{b2}' | '\u{b3}' | '\u{b9}' | '\u{bc}'..='\u{be}'
        | '\u{2070}'..='\u{209f}' | '\u{2150}'..='\u{218f}' | '\u{2460}'..='\u{24ff}'
        | '\u{2776}'..='\u{2793}' | '\u{3007}' | '\u{3021}'..='\u{3029}'
        | '\u{3038}'..='\u{303a}' | '\u{3192}'..='\u{3195}' | '\u{3220}'..='\u{3229}'
        | '\u{3248}'..='\u{324f}' | '\u{3251}'..='\u{325f}' | '\u{3280}'..='\u{3289}'
        | '\u{32b1}'..='\u{32bf}')
}

pub(crate) fn is_alphanumeric(c: char) -> bool {
    c == '_' || is_letter(c) || is_digit(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_filter_leaves_the_right_side_one_character() {
        assert_eq!(split_filter("@.a=="), Some(("@.a", "=", "=")));
        assert_eq!(split_filter("@.a="), None);
        assert_eq!(split_filter("==1"), None);
    }

    #[test]
    fn slice_groups_match_the_slice_regex() {
        assert_eq!(slice_groups("1:-2:3"), Some(["1", ":-2", ":3"]));
        assert_eq!(slice_groups(""), Some(["", "", ""]));
        assert_eq!(slice_groups("::"), Some(["", ":", ":"]));
        assert_eq!(slice_groups("a"), None);
        assert_eq!(slice_groups("1:2:3:4"), None);
    }

    #[test]
    fn dict_keys_are_single_quoted_without_inner_quotes() {
        assert_eq!(dict_key("'a.b'"), Some("a.b"));
        assert_eq!(dict_key("\"a\""), None);
        assert_eq!(dict_key("'a'b'"), None);
    }
}
