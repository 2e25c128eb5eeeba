//! Masking secret values in text that is kept or shown: logs, events, errors.

/// `text` with every one of `secrets` replaced by `***`, longest first (so a secret that
/// contains another is masked whole). A multi-line secret (a kubeconfig, a PEM key) is also
/// masked line by line, since output is often read and shown one line at a time; lines too
/// short to identify it (`apiVersion: v1`) are left alone.
pub(crate) fn mask(text: &str, secrets: &[String]) -> String {
    let mut pieces: Vec<&str> = Vec::new();
    for s in secrets {
        let s = s.trim();
        if s.is_empty() {
            continue;
        }
        pieces.push(s);
        if s.contains('\n') {
            pieces.extend(s.lines().map(str::trim).filter(|l| l.len() >= 16));
        }
    }
    pieces.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_string();
    for s in pieces {
        if out.contains(s) {
            out = out.replace(s, "***");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_hides_every_secret_and_the_longest_first() {
        let secrets = vec!["abc".to_string(), "abcdef".to_string(), "  ".to_string()];
        assert_eq!(mask("token=abcdef and abc", &secrets), "token=*** and ***");
        assert_eq!(mask("nothing here", &secrets), "nothing here");
        let kubeconfig =
            "apiVersion: v1\nusers:\n- user: {token: eyJhbGciOiJSUzI1NiIsImtpZCI6}\n".to_string();
        let line = "  - user: {token: eyJhbGciOiJSUzI1NiIsImtpZCI6}";
        assert_eq!(mask(line, std::slice::from_ref(&kubeconfig)), "  ***");
        assert_eq!(mask("apiVersion: v1", &[kubeconfig]), "apiVersion: v1");
    }
}
