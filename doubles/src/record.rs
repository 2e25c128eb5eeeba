//! The record of each double's call, for the rehearsal's report: one JSON line per call in
//! `$MESHBOOK_DOUBLES/calls.jsonl`, naming the step (`MESHBOOK_STEP`), the tool and version,
//! the subcommand and the flags' names (never their values, which may carry secrets), the exit
//! status and what the call did (`applied Deployment istio-system/istiod to cluster1`,
//! `wrote istio-auth.yaml`, `served https://… from downloads/…`).

use std::io::Write;

use serde::{Deserialize, Serialize};

use crate::Env;

/// One call of a double.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    /// The step that made the call (`MESHBOOK_STEP`), if a step did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The tool (`helm`).
    pub tool: String,
    /// The version the double played (`2.16.12`), when the tool has versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The subcommand (`template`, `x add-to-mesh external-service`).
    #[serde(default)]
    pub command: String,
    /// The flags given, by name.
    #[serde(default)]
    pub flags: Vec<String>,
    /// What the call did, one line each.
    #[serde(default)]
    pub effects: Vec<String>,
    /// The exit status.
    pub exit: i32,
}

impl Call {
    /// A call of `tool` about to run.
    pub fn new(tool: &str, version: Option<String>, env: &Env) -> Call {
        Call {
            step: env.var("MESHBOOK_STEP").map(str::to_string),
            tool: tool.to_string(),
            version,
            ..Call::default()
        }
    }

    /// Notes one thing the call did.
    pub fn effect(&mut self, what: impl Into<String>) {
        self.effects.push(what.into());
    }

    /// Appends the call to the rehearsal's record, when there is one. A record that cannot be
    /// written never fails the tool's own work.
    pub fn save(&self, env: &Env) {
        let Some(dir) = &env.config.dir else { return };
        let Ok(line) = serde_json::to_string(self) else {
            return;
        };
        let path = dir.join(crate::setup::CALLS_FILE);
        if let Ok(mut f) = crate::private::open_append(&path) {
            // One write per line: concurrent steps append whole lines.
            let _ = f.write_all(format!("{line}\n").as_bytes());
        }
    }
}

/// Reads every call recorded in a rehearsal's doubles folder (lines that do not parse are
/// skipped: a call killed mid-write leaves at most one).
pub fn read(dir: &std::path::Path) -> Vec<Call> {
    std::fs::read_to_string(dir.join(crate::setup::CALLS_FILE))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
