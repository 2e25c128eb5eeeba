//! What the scheduler makes of an attempt's raw outputs, as one pure decision: decode what
//! declares `decode`, test the step's `wait.until`, check each value's type, seal the secret
//! ones. The verdict says whether the step succeeded, must try again, or failed.

use std::time::Duration;

use indexmap::IndexMap;

use crate::events::Stored;
use crate::model::{Decode, Grammar, OutputSpec, Rendered, Step, Until};
use crate::run::executor::{Produced, StepFailure};
use crate::state::secrets::Sealer;
use crate::values::Values;

/// What to do after an attempt that produced values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// The step succeeded with these outputs, as they are stored.
    Accept {
        /// The outputs, each knowing whether it is secret.
        outputs: Values,
        /// The outputs as the journal keeps them: secret ones sealed.
        stored: IndexMap<String, Stored>,
    },
    /// The `wait.until` condition is not met yet: try again after `after`.
    Again {
        /// What is not met (never a secret value).
        reason: String,
        /// The delay before the next try.
        after: Duration,
    },
    /// The step failed.
    Fail(StepFailure),
}

/// Judges an attempt of `step` that produced `produced`, `waited` after its first attempt
/// started; `until` is the step's `wait.until`, rendered.
pub(crate) fn judge(
    step: &Step,
    until: Option<&Until<Rendered>>,
    produced: Produced,
    waited: Duration,
    sealer: &Sealer,
) -> Verdict {
    let declared = &step.outputs;
    let decoded: Result<IndexMap<String, String>, StepFailure> = produced
        .into_iter()
        .filter_map(|(k, v)| {
            let spec = declared.get(&k)?;
            Some(decode(&k, spec, v).map(|v| (k, v)))
        })
        .collect();
    let outputs = match decoded {
        Ok(o) => o,
        Err(failure) => return Verdict::Fail(failure),
    };
    if let (Some(policy), Some(until)) = (&step.wait, until)
        && let Err(unmet) = until_met(until, declared, &outputs)
    {
        let after = policy.interval.get();
        if waited + after > policy.timeout.get() {
            return Verdict::Fail(StepFailure::transient(format!(
                "still waiting after {}: {unmet}",
                policy.timeout
            )));
        }
        return Verdict::Again {
            reason: unmet.to_string(),
            after,
        };
    }
    if let Err(failure) = outputs_conform(declared, &outputs) {
        return Verdict::Fail(failure);
    }
    let outputs: Values = outputs
        .into_iter()
        .map(|(k, text)| {
            let secret = declared[&k].secret;
            (k, crate::values::Value { text, secret })
        })
        .collect();
    let stored = outputs.store(sealer);
    Verdict::Accept { outputs, stored }
}

/// Applies an output's `decode` to the produced text. Errors never show the value.
fn decode(name: &str, spec: &OutputSpec, value: String) -> Result<String, StepFailure> {
    use base64::Engine as _;
    match spec.decode {
        None => Ok(value),
        Some(Decode::Base64) => base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| {
                StepFailure::transient(format!(
                    "output `{name}` is not base64-encoded text, so it cannot be decoded"
                ))
            }),
    }
}

/// Why a `wait.until` condition is not met (never holding a secret value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Unmet {
    /// A value is empty.
    #[error("`{0}` is empty")]
    Empty(String),
    /// A value differs from the expected one.
    #[error("`{name}` is {shown}, not {expected:?}")]
    NotEqual {
        /// The output.
        name: String,
        /// The value quoted, or "a secret value" for secrets.
        shown: String,
        /// The expected value.
        expected: String,
    },
    /// A value does not match the pattern.
    #[error("`{name}` is {shown}, which does not match /{pattern}/")]
    NoMatch {
        /// The output.
        name: String,
        /// The value quoted, or "a secret value" for secrets.
        shown: String,
        /// The pattern.
        pattern: String,
    },
}

/// Checks every declared output (or, with none declared, every produced value) against `until`.
pub(crate) fn until_met(
    until: &Until<Rendered>,
    declared: &IndexMap<String, OutputSpec>,
    produced: &IndexMap<String, String>,
) -> Result<(), Unmet> {
    for (name, value) in produced {
        if until.holds(value) {
            continue;
        }
        let secret = declared.get(name).is_some_and(|s| s.secret);
        let shown = if secret {
            "a secret value".to_string()
        } else {
            format!("{value:?}")
        };
        return Err(match until {
            Until::NonEmpty => Unmet::Empty(name.clone()),
            Until::Equals(expected) => Unmet::NotEqual {
                name: name.clone(),
                shown,
                expected: expected.clone(),
            },
            Until::Matches(p) => Unmet::NoMatch {
                name: name.clone(),
                shown,
                pattern: p.text().to_string(),
            },
        });
    }
    for name in declared.keys() {
        if !produced.contains_key(name) && matches!(until, Until::NonEmpty) {
            return Err(Unmet::Empty(name.clone()));
        }
    }
    Ok(())
}

/// Checks produced values against the declarations: every declared output present and of its
/// type. Errors name the value unless the output is secret.
pub(crate) fn outputs_conform(
    declared: &IndexMap<String, OutputSpec>,
    produced: &IndexMap<String, String>,
) -> Result<(), StepFailure> {
    for (name, spec) in declared {
        let Some(value) = produced.get(name) else {
            return Err(StepFailure::MissingOutput(name.clone()));
        };
        if let Err(mismatch) = spec.ty.admits(value) {
            let shown = (!spec.secret).then(|| value.clone());
            return Err(StepFailure::BadOutput {
                name: name.clone(),
                shown,
                mismatch,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ShellSpec, ValueType, WaitPolicy};

    fn values(pairs: &[(&str, &str)]) -> IndexMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn decoding_turns_base64_into_text_and_hides_bad_values() {
        let spec = OutputSpec {
            decode: Some(crate::model::Decode::Base64),
            secret: true,
            ..Default::default()
        };
        assert_eq!(
            decode("TOKEN", &spec, "czNjcjN0\n".into()).unwrap(),
            "s3cr3t"
        );
        let err = decode("TOKEN", &spec, "not base64!".into())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("TOKEN") && !err.contains("not base64!"),
            "{err}"
        );
        assert_eq!(
            decode("X", &OutputSpec::default(), "as is".into()).unwrap(),
            "as is"
        );
    }

    #[test]
    fn bad_values_are_named_unless_secret() {
        let mut declared = IndexMap::new();
        declared.insert(
            "ADDR".to_string(),
            OutputSpec {
                ty: ValueType::Ip,
                ..Default::default()
            },
        );
        let mut produced = IndexMap::new();
        produced.insert("ADDR".to_string(), "pending".to_string());
        let err = outputs_conform(&declared, &produced)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            r#"output `ADDR` = "pending" is not a valid ip: expected an IPv4 or IPv6 address"#
        );

        declared[0].secret = true;
        let err = outputs_conform(&declared, &produced)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("pending"), "{err}");

        produced.clear();
        assert_eq!(
            outputs_conform(&declared, &produced),
            Err(StepFailure::MissingOutput("ADDR".into()))
        );
    }

    #[test]
    fn nonempty_equals_and_matches() {
        let none = IndexMap::new();
        let matches = |p: &str| Until::Matches(crate::model::Pattern::parse(p).unwrap());
        assert_eq!(
            until_met(&Until::NonEmpty, &none, &values(&[("A", " ")])),
            Err(Unmet::Empty("A".into()))
        );
        assert!(until_met(&Until::NonEmpty, &none, &values(&[("A", "1.2.3.4")])).is_ok());
        assert!(
            until_met(
                &Until::Equals("Running".into()),
                &none,
                &values(&[("P", "Running\n")])
            )
            .is_ok()
        );
        let err = until_met(
            &Until::Equals("Running".into()),
            &none,
            &values(&[("P", "Pending")]),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), r#"`P` is "Pending", not "Running""#);
        assert!(until_met(&matches(r"^\d+\."), &none, &values(&[("A", "10.0.0.1")])).is_ok());
        assert!(until_met(&matches(r"^\d+\."), &none, &values(&[("A", "x")])).is_err());
    }

    #[test]
    fn secret_values_are_not_shown() {
        let mut declared = IndexMap::new();
        declared.insert(
            "T".to_string(),
            OutputSpec {
                secret: true,
                ..Default::default()
            },
        );
        let err = until_met(
            &Until::Equals("x".into()),
            &declared,
            &values(&[("T", "hunter2")]),
        )
        .unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn a_missing_declared_output_is_empty() {
        let mut declared = IndexMap::new();
        declared.insert("T".to_string(), OutputSpec::default());
        assert_eq!(
            until_met(&Until::NonEmpty, &declared, &IndexMap::new()),
            Err(Unmet::Empty("T".into()))
        );
    }

    #[test]
    fn a_verdict_accepts_waits_or_fails() {
        let mut step = crate::model::Step {
            id: "gw".into(),
            title: None,
            needs: vec![],
            timeout: None,
            retry: None,
            wait: Some(WaitPolicy {
                until: Until::NonEmpty,
                timeout: crate::model::Duration(Duration::from_secs(12)),
                interval: crate::model::Duration(Duration::from_secs(5)),
            }),
            outputs: IndexMap::new(),
            sandbox: None,
            action: crate::model::Action::Shell(ShellSpec::script("x")),
        };
        step.outputs.insert(
            "GW".into(),
            OutputSpec {
                ty: ValueType::Ip,
                secret: true,
                ..Default::default()
            },
        );
        let sealer = Sealer::from_key([4; 32]);
        let until = Until::<Rendered>::NonEmpty;
        let at = |secs| Duration::from_secs(secs);
        assert_eq!(
            judge(&step, Some(&until), values(&[("GW", "")]), at(0), &sealer),
            Verdict::Again {
                reason: "`GW` is empty".into(),
                after: at(5)
            }
        );
        assert_eq!(
            judge(&step, Some(&until), values(&[("GW", "")]), at(8), &sealer),
            Verdict::Fail(StepFailure::transient(
                "still waiting after 12s: `GW` is empty"
            ))
        );
        let Verdict::Fail(bad) = judge(
            &step,
            Some(&until),
            values(&[("GW", "nope")]),
            at(0),
            &sealer,
        ) else {
            panic!("a bad ip is accepted")
        };
        assert!(!bad.to_string().contains("nope"), "{bad}");
        let Verdict::Accept { outputs, stored } = judge(
            &step,
            Some(&until),
            values(&[("GW", "10.0.0.1"), ("X", "y")]),
            at(0),
            &sealer,
        ) else {
            panic!("not accepted")
        };
        assert_eq!(
            outputs.secrets(),
            ["10.0.0.1"],
            "undeclared values are dropped"
        );
        assert!(matches!(&stored["GW"], Stored::Sealed(_)));
    }
}
