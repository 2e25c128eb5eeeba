//! The checks kstatus applies to every object before and after the per-kind rules.

use serde_json::Value;

use super::object::{self, conditions};
use super::{Assessment, ReadinessError};

/// Deletion, generation and the standard `Reconciling`/`Stalled` conditions.
pub(crate) fn generic_properties(obj: &Value) -> Result<Option<Assessment>, ReadinessError> {
    let deletion =
        object::nested_string(obj, &["metadata", "deletionTimestamp"]).map_err(|source| {
            ReadinessError::Lookup {
                field: "metadata.deletionTimestamp",
                source,
            }
        })?;
    if deletion.is_some_and(|stamp| !stamp.is_empty()) {
        return Ok(Some(
            Assessment::current("Resource scheduled for deletion").terminating(),
        ));
    }

    if let Some(result) = generation_observed(obj)? {
        return Ok(Some(result));
    }

    for cond in conditions(obj).map_err(ReadinessError::Conditions)? {
        if cond.status != "True" {
            continue;
        }
        match cond.type_.as_str() {
            "Reconciling" => return Ok(Some(Assessment::in_progress(cond.reason, cond.message))),
            "Stalled" => return Ok(Some(Assessment::failed(cond.reason, cond.message))),
            _ => {}
        }
    }
    Ok(None)
}

/// `metadata.generation` must match `status.observedGeneration` when both are set.
fn generation_observed(obj: &Value) -> Result<Option<Assessment>, ReadinessError> {
    let Some(generation) = generation(obj)? else {
        return Ok(None);
    };
    let Some(observed) = observed_generation(obj)? else {
        return Ok(None);
    };
    if observed == generation {
        return Ok(None);
    }
    let message = format!(
        "{} generation is {generation}, but latest observed generation is {observed}",
        object::kind(obj)
    );
    Ok(Some(Assessment::in_progress(
        "LatestGenerationNotObserved",
        message,
    )))
}

pub(crate) fn generation(obj: &Value) -> Result<Option<i64>, ReadinessError> {
    object::nested_int64(obj, &["metadata", "generation"]).map_err(|source| {
        ReadinessError::Lookup {
            field: "metadata.generation",
            source,
        }
    })
}

pub(crate) fn observed_generation(obj: &Value) -> Result<Option<i64>, ReadinessError> {
    object::nested_int64(obj, &["status", "observedGeneration"]).map_err(|source| {
        ReadinessError::Lookup {
            field: "status.observedGeneration",
            source,
        }
    })
}

/// The first `Ready` condition, for kinds without rules of their own.
pub(crate) fn ready_condition(obj: &Value) -> Result<Option<Assessment>, ReadinessError> {
    let conditions = conditions(obj).map_err(ReadinessError::Conditions)?;
    Ok(conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .map(|ready| {
            if ready.status == "True" {
                Assessment::current("Resource is Ready")
            } else {
                Assessment::in_progress(ready.reason, ready.message)
            }
        }))
}

impl Assessment {
    fn terminating(mut self) -> Self {
        self.status = super::Status::Terminating;
        self
    }
}
