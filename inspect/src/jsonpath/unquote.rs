//! Go string-literal decoding for quoted template literals (`{"\n"}`, `{'x'}`).
//!
//! client-go's `UnquoteExtend` is `strconv.Unquote` that also accepts single quotes
//! around a whole string, so the escape rules are Go's, not Rust's or JSON's.

/// Decodes a quoted literal including its quotes; `Err` is Go's "invalid syntax".
pub(crate) fn unquote_extend(quoted: &str) -> Result<String, ()> {
    let bytes = quoted.as_bytes();
    let n = bytes.len();
    if n < 2 || bytes[0] != bytes[n - 1] || !matches!(bytes[0], b'"' | b'\'') {
        return Err(());
    }
    let quote = bytes[0];
    let inner = &quoted[1..n - 1];
    if !inner.contains('\\') && !inner.as_bytes().contains(&quote) {
        return Ok(inner.to_string());
    }
    // Go strings may hold any bytes (`\xff`); invalid UTF-8 becomes U+FFFD here.
    let mut out = Vec::with_capacity(inner.len());
    let mut rest = inner.as_bytes();
    while !rest.is_empty() {
        rest = unquote_char(rest, quote, &mut out)?;
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Decodes one character or escape sequence (Go's `strconv.UnquoteChar`).
fn unquote_char<'b>(s: &'b [u8], quote: u8, out: &mut Vec<u8>) -> Result<&'b [u8], ()> {
    let c = s[0];
    if c == quote {
        return Err(());
    }
    if c != b'\\' {
        // Multi-byte UTF-8 sequences are copied byte by byte, which keeps them intact.
        out.push(c);
        return Ok(&s[1..]);
    }
    let (&kind, rest) = s.get(1..).and_then(<[u8]>::split_first).ok_or(())?;
    let simple = match kind {
        b'a' => Some(0x07),
        b'b' => Some(0x08),
        b'f' => Some(0x0c),
        b'n' => Some(b'\n'),
        b'r' => Some(b'\r'),
        b't' => Some(b'\t'),
        b'v' => Some(0x0b),
        b'\\' => Some(b'\\'),
        b'\'' | b'"' if kind == quote => Some(kind),
        _ => None,
    };
    if let Some(byte) = simple {
        out.push(byte);
        return Ok(rest);
    }
    match kind {
        b'x' | b'u' | b'U' => {
            let len = match kind {
                b'x' => 2,
                b'u' => 4,
                _ => 8,
            };
            let digits = rest.get(..len).ok_or(())?;
            let mut value: u32 = 0;
            for &d in digits {
                value = value << 4 | char::from(d).to_digit(16).ok_or(())?;
            }
            if kind == b'x' {
                out.push(value as u8);
            } else {
                let ch = char::from_u32(value).ok_or(())?;
                out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
            }
            Ok(&rest[len..])
        }
        b'0'..=b'7' => {
            let mut value = u32::from(kind - b'0');
            let digits = rest.get(..2).ok_or(())?;
            for &d in digits {
                if !(b'0'..=b'7').contains(&d) {
                    return Err(());
                }
                value = value << 3 | u32::from(d - b'0');
            }
            let byte = u8::try_from(value).map_err(|_| ())?;
            out.push(byte);
            Ok(&rest[2..])
        }
        _ => Err(()),
    }
}

#[cfg(test)]
mod tests {
    use super::unquote_extend;

    #[test]
    fn plain_literals_are_returned_as_is() {
        assert_eq!(unquote_extend("\"a b\""), Ok("a b".to_string()));
        assert_eq!(unquote_extend("'it is'"), Ok("it is".to_string()));
        assert_eq!(unquote_extend("'say \"hi\"'"), Ok("say \"hi\"".to_string()));
    }

    #[test]
    fn go_escapes_are_decoded() {
        assert_eq!(
            unquote_extend(r#""\t\n\\\"\x41\101\u00e9\U0001F600""#),
            Ok("\t\n\\\"AAé😀".to_string())
        );
        assert_eq!(unquote_extend(r"'\''"), Ok("'".to_string()));
    }

    #[test]
    fn invalid_escapes_fail() {
        for bad in [
            r#""\q""#,
            r#""\'""#,
            r#"'\"'"#,
            r#""\x4""#,
            r#""\400""#,
            r#""\ud800""#,
            "\"",
            "'a\"",
        ] {
            assert_eq!(unquote_extend(bad), Err(()), "{bad}");
        }
    }

    #[test]
    fn non_ascii_text_survives() {
        assert_eq!(unquote_extend("\"é\\n\""), Ok("é\n".to_string()));
    }
}
