//! `kube.wait`: until objects are ready, have a condition, show a value, or are gone.

use meshbook_inspect::jsonpath::JsonPath;
use meshbook_inspect::labels::Selector;
use std::borrow::Cow;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::objects::{Objects, Place, Which};
use super::{Flat, Invalid};
use crate::model::fold::{Folder, key};
use crate::model::grammar::{Condition, Pattern, Stage, Templated, Written};
use crate::model::{Duration, Until};

/// `kube.wait`: by kstatus readiness (default), a condition, a JSONPath value, or deletion.
#[derive(Clone, Debug, PartialEq)]
pub struct KubeWait<S: Stage = Written> {
    /// The objects: one by name or all a selector matches.
    pub objects: Objects<S>,
    /// What to wait for.
    pub wait_for: WaitFor<S>,
    /// With a selector: at least this many objects must exist (default 1).
    pub min: Option<u32>,
    /// How long to wait (default 5m).
    pub timeout: Option<Duration>,
}

impl<S: Stage> KubeWait<S> {
    /// How long it waits when it sets no `timeout`.
    pub const DEFAULT_TIMEOUT: Duration = Duration(std::time::Duration::from_secs(300));

    /// How long it waits: its `timeout`, or [`Self::DEFAULT_TIMEOUT`].
    pub fn patience(&self) -> Duration {
        self.timeout.unwrap_or(Self::DEFAULT_TIMEOUT)
    }
}

/// What a `kube.wait` waits for.
#[derive(Clone, Debug, PartialEq)]
pub enum WaitFor<S: Stage = Written> {
    /// kstatus readiness: every object `Current`.
    Ready,
    /// A condition, as `kubectl wait --for=condition=Type[=Status]`.
    Condition(S::Of<Condition>),
    /// What a kubectl JSONPath prints, tested like a step's `wait.until`.
    Value {
        /// The JSONPath.
        jsonpath: S::Of<JsonPath>,
        /// The test: non-empty (default), equals, or matches.
        until: Until<S>,
    },
    /// Nothing selected remains.
    Deleted,
}

impl KubeWait {
    /// Folds every template field.
    pub(crate) fn fold<F: Folder>(&self, f: &mut F) -> Result<KubeWait<F::Out>, F::Error> {
        let wait_for = match &self.wait_for {
            WaitFor::Ready => WaitFor::Ready,
            WaitFor::Deleted => WaitFor::Deleted,
            WaitFor::Condition(c) => WaitFor::Condition(f.grammar(&[key("condition")], c)?),
            WaitFor::Value { jsonpath, until } => WaitFor::Value {
                jsonpath: f.grammar(&[key("jsonpath")], jsonpath)?,
                until: until.fold(f, &[])?,
            },
        };
        Ok(KubeWait {
            objects: self.objects.fold(f)?,
            wait_for,
            min: self.min,
            timeout: self.timeout,
        })
    }
}

impl<S: Stage> super::Placed for KubeWait<S> {
    fn context(&self) -> Option<&str> {
        self.objects.place.context.as_deref()
    }
}

raw_kind! {
    /// `kube.wait` as written.
    RawWait as "KubeWait", objects {
        /// `Type` or `Type=Status`, as in `kubectl wait --for=condition=...`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        condition: Option<Templated<Condition>>,
        /// A kubectl JSONPath whose value is tested with `equals`, `matches`, or (by default) non-empty.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        jsonpath: Option<Templated<JsonPath>>,
        /// The JSONPath value must equal this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        equals: Option<String>,
        /// The JSONPath value must match this regular expression.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        matches: Option<Templated<Pattern>>,
        /// Wait until the objects are gone.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        deleted: bool,
        /// With a selector: at least this many objects must exist and be ready (default: 1, and all that exist).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<u32>,
        /// How long to wait (default 5m).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout: Option<Duration>,
    }
}

impl Flat for KubeWait {
    type Flat = RawWait;

    fn from_flat(mut raw: RawWait) -> Result<Self, Invalid> {
        let mut problems = Invalid::default();
        let objects = problems.take(raw.take_objects(|n, s| Which::one_of(n, s, "name")));
        let modes =
            raw.condition.is_some() as u8 + raw.jsonpath.is_some() as u8 + raw.deleted as u8;
        if modes > 1 {
            problems.push(
                "waits for one thing: set at most one of `condition`, `jsonpath` or `deleted`",
            );
        }
        let until = match (raw.equals, raw.matches) {
            (None, None) => Some(Until::NonEmpty),
            (Some(e), None) => Some(Until::Equals(e)),
            (None, Some(m)) => Some(Until::Matches(m)),
            (Some(_), Some(_)) => {
                problems.push("takes `equals` or `matches`, not both");
                None
            }
        };
        let wait_for = match (raw.condition, raw.jsonpath, raw.deleted) {
            (Some(c), _, _) => WaitFor::Condition(c),
            (None, Some(jsonpath), _) => WaitFor::Value {
                jsonpath,
                until: until.clone().unwrap_or(Until::NonEmpty),
            },
            (None, None, deleted) => {
                if until != Some(Until::NonEmpty) {
                    problems.push("uses `equals`/`matches` only with `jsonpath`");
                }
                if deleted {
                    WaitFor::Deleted
                } else {
                    WaitFor::Ready
                }
            }
        };
        problems.into_result()?;
        Ok(KubeWait {
            objects: objects.ok_or_else(Invalid::default)?,
            wait_for,
            min: raw.min,
            timeout: raw.timeout,
        })
    }

    fn to_flat(&self) -> Cow<'_, RawWait> {
        let mut raw = RawWait {
            min: self.min,
            timeout: self.timeout,
            ..RawWait::of(&self.objects)
        };
        match &self.wait_for {
            WaitFor::Ready => {}
            WaitFor::Deleted => raw.deleted = true,
            WaitFor::Condition(c) => raw.condition = Some(c.clone()),
            WaitFor::Value { jsonpath, until } => {
                raw.jsonpath = Some(jsonpath.clone());
                match until {
                    Until::NonEmpty => {}
                    Until::Equals(e) => raw.equals = Some(e.clone()),
                    Until::Matches(m) => raw.matches = Some(m.clone()),
                }
            }
        }
        Cow::Owned(raw)
    }
}
