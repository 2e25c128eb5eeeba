//! Names a runbook gives: step ids, and the names of params and outputs, which become
//! environment variables.

/// Whether `name` can be an environment variable: letters, digits and `_`, not starting with a digit.
pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The longest step id: an id names the step's files (`logs/ID.log`, `tmp/ID.N.PID.out`), which
/// must stay within a file name's 255 bytes.
pub(crate) const MAX_STEP_ID: usize = 128;

/// Whether `id` can be a step id: letters, digits, `-`, `_` and `.`, starting with a letter or
/// digit, at most [`MAX_STEP_ID`] characters.
pub(crate) fn is_step_id(id: &str) -> bool {
    let mut chars = id.chars();
    id.len() <= MAX_STEP_ID
        && matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_shell_and_ids_allow_dots_and_dashes() {
        assert!(is_env_name("CTX_1") && is_env_name("_x"));
        assert!(!is_env_name("1X") && !is_env_name("CTX-1") && !is_env_name(""));
        assert!(is_step_id("gw-addr.v2") && !is_step_id("-a") && !is_step_id("a b"));
        assert!(is_step_id(&"a".repeat(MAX_STEP_ID)) && !is_step_id(&"a".repeat(MAX_STEP_ID + 1)));
    }
}
