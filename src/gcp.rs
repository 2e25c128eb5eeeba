//! Rehearsing gcloud steps: which steps call gcloud, whether the runbook makes its clusters with
//! it, and whether gcloud is here at all. The simulated cloud itself is `meshbook-cloud`.

use std::collections::BTreeSet;

use meshbook_engine::model::{Action, Command, Runbook, Step};

/// The project gcloud's configuration starts with in a rehearsal (a runbook's own
/// `gcloud config set project` or `--project` changes it as it would for real).
pub(crate) const PROJECT: &str = "meshbook-rehearsal";

/// Why gcloud steps are skipped on a machine without gcloud.
pub(crate) const MISSING: &str = "gcloud is not installed";

/// What a rehearsal needs of the simulated cloud.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Steps (and `finally` steps) whose shell calls gcloud.
    pub(crate) steps: BTreeSet<String>,
    /// Some step creates GKE clusters: the clusters come from the cloud, not from the rehearsal.
    pub(crate) creates_clusters: bool,
    /// gcloud is on `PATH`.
    pub(crate) installed: bool,
}

impl Plan {
    /// Whether the rehearsal starts the simulated cloud.
    pub(crate) fn starts_cloud(&self) -> bool {
        self.installed && !self.steps.is_empty()
    }

    /// Whether the rehearsal starts its own cluster per context (else gcloud creates them).
    pub(crate) fn starts_clusters(&self) -> bool {
        !(self.creates_clusters && self.installed)
    }
}

/// Looks at a runbook's shell steps.
pub(crate) fn plan(runbook: &Runbook) -> Plan {
    let mut plan = Plan {
        installed: installed(),
        ..Plan::default()
    };
    for step in runbook.steps.iter().chain(&runbook.finally) {
        let Some(script) = shell(step) else { continue };
        if calls_gcloud(&script) {
            plan.steps.insert(step.id.clone());
        }
        plan.creates_clusters |= creates_clusters(&script);
    }
    plan
}

/// A shell step's script, or its argv as one line.
fn shell(step: &Step) -> Option<String> {
    match &step.action {
        Action::Shell(s) => Some(match &s.command {
            Command::Script(script) => script.clone(),
            Command::Argv { program, args } => std::iter::once(program)
                .chain(args)
                .cloned()
                .collect::<Vec<_>>()
                .join(" "),
        }),
        _ => None,
    }
}

/// Whether `gcloud` appears in `script` as a word of its own (not `gcloud-foo` or `my_gcloud`).
pub(crate) fn calls_gcloud(script: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.';
    script.match_indices("gcloud").any(|(i, _)| {
        let before = script[..i].chars().next_back();
        let after = script[i + "gcloud".len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

/// Whether a command of `script` is `gcloud ... container ... clusters create`.
pub(crate) fn creates_clusters(script: &str) -> bool {
    let joined = script.replace("\\\n", " ");
    joined.lines().any(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(start) = words.iter().position(|w| w.ends_with("gcloud")) else {
            return false;
        };
        let rest = &words[start..];
        let at = |w: &str| rest.iter().position(|x| *x == w);
        matches!((at("container"), at("clusters"), at("create")), (Some(a), Some(b), Some(c)) if a < b && b < c)
    })
}

/// Whether `gcloud` is an executable on `PATH`.
fn installed() -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        let file = dir.join("gcloud");
        std::fs::metadata(&file).is_ok_and(|m| {
            use std::os::unix::fs::PermissionsExt;
            m.is_file() && m.permissions().mode() & 0o111 != 0
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcloud_is_found_as_a_command_word() {
        assert!(calls_gcloud("gcloud container clusters list"));
        assert!(calls_gcloud(
            "X=$(gcloud info --format='value(config.project)')"
        ));
        assert!(calls_gcloud("a && gcloud compute ssh vm"));
        assert!(!calls_gcloud("gke-gcloud-auth-plugin --version"));
        assert!(!calls_gcloud("echo my_gcloud_notes"));
        assert!(!calls_gcloud("kubectl get pods"));
    }

    #[test]
    fn cluster_creation_is_recognised_across_continuations() {
        assert!(creates_clusters(
            "gcloud container clusters create \"$C\" \\\n  --zone z"
        ));
        assert!(creates_clusters(
            "gcloud container --project p clusters create c"
        ));
        assert!(!creates_clusters(
            "gcloud container clusters get-credentials c"
        ));
        assert!(!creates_clusters("gcloud compute instances create vm"));
    }
}
