//! Running a runbook: the scheduler and its events, the executor boundary, retries, waits,
//! fingerprints and resume planning. The engine decides; executors act; sinks record and report.

pub mod executor;
pub mod fingerprint;
pub mod resume;
pub mod retry;
pub mod scheduler;
pub mod wait;

use indexmap::IndexMap;

/// The inputs step `i` resolves: `values` (params), then the outputs of every step upstream of
/// it, in step order. Shared by the scheduler and resume planning so both see the same inputs.
pub fn inputs<'a>(
    values: &IndexMap<String, String>,
    i: usize,
    deps: impl Fn(usize) -> &'a [usize],
    outputs: impl Fn(usize) -> Option<&'a IndexMap<String, String>>,
) -> IndexMap<String, String> {
    let mut env = values.clone();
    let mut seen = std::collections::HashSet::new();
    let mut stack: Vec<usize> = deps(i).to_vec();
    let mut upstream = Vec::new();
    while let Some(d) = stack.pop() {
        if !seen.insert(d) {
            continue;
        }
        upstream.push(d);
        stack.extend_from_slice(deps(d));
    }
    upstream.sort_unstable();
    for d in upstream {
        if let Some(out) = outputs(d) {
            env.extend(out.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    env
}
