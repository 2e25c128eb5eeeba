//! `kube.exec`: run a command in a pod chosen by name or selector.

use meshbook_inspect::labels::Selector;
use std::borrow::Cow;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::objects::{ObjectRef, Place, Which};
use super::{Flat, Invalid, is_one, one};
use crate::model::fold::Folder;
use crate::model::grammar::{Rendered, Stage, Templated, Written};

/// `kube.exec`: run a command in a pod, `repeat` times.
#[derive(Clone, Debug, PartialEq)]
pub struct KubeExec<S: Stage = Written> {
    /// Context and namespace of the pod.
    pub place: Place,
    /// The pod by name, or the first ready pod a selector matches.
    pub pod: Which<S>,
    /// Container name, when the pod has several.
    pub container: Option<String>,
    /// The command and its arguments (at least the command).
    pub command: Vec<String>,
    /// How many times to run it (at least once); every run's output is captured.
    pub repeat: u32,
    /// Texts that must each appear in the combined output.
    pub contains: Vec<String>,
}

impl KubeExec {
    /// Folds every template field.
    pub(crate) fn fold<F: Folder>(&self, f: &mut F) -> Result<KubeExec<F::Out>, F::Error> {
        Ok(KubeExec {
            place: self.place.fold(f)?,
            pod: self.pod.fold(f, "pod")?,
            container: f.opt_text("container", self.container.as_ref())?,
            command: f.texts("command", &self.command)?,
            repeat: self.repeat,
            contains: f.texts("contains", &self.contains)?,
        })
    }
}

impl KubeExec<Rendered> {
    /// The pods, as the view every kube kind gives.
    pub fn view(&self) -> ObjectRef<'_> {
        ObjectRef::new(&self.place, "pods", &self.pod)
    }
}

impl<S: Stage> super::Placed for KubeExec<S> {
    fn context(&self) -> Option<&str> {
        self.place.context.as_deref()
    }
}

raw_kind! {
    /// `kube.exec` as written.
    RawExec as "KubeExec", place {
        /// The pod by name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pod: Option<String>,
        /// The first running pod matching this label selector.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        selector: Option<Templated<Selector>>,
        /// Container name, when the pod has several.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        container: Option<String>,
        /// The command and its arguments.
        command: Vec<String>,
        /// Run the command this many times (default 1); all outputs are captured.
        #[serde(default = "one", skip_serializing_if = "is_one")]
        repeat: u32,
        /// Each of these texts must appear in the combined output.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        contains: Vec<String>,
    }
}

impl Flat for KubeExec {
    type Flat = RawExec;

    fn from_flat(mut raw: RawExec) -> Result<Self, Invalid> {
        let place = raw.take_place();
        let mut problems = Invalid::default();
        let pod = problems.take(Which::one_of(raw.pod, raw.selector, "pod"));
        if raw.command.is_empty() {
            problems.push("has an empty `command`");
        }
        if raw.repeat == 0 {
            problems.push("has `repeat: 0`");
        }
        problems.into_result()?;
        Ok(KubeExec {
            place,
            pod: pod.unwrap_or(Which::All),
            container: raw.container,
            command: raw.command,
            repeat: raw.repeat,
            contains: raw.contains,
        })
    }

    fn to_flat(&self) -> Cow<'_, RawExec> {
        let (pod, selector) = self.pod.fields();
        Cow::Owned(RawExec {
            pod,
            selector,
            container: self.container.clone(),
            command: self.command.clone(),
            repeat: self.repeat,
            contains: self.contains.clone(),
            ..RawExec::at(&self.place)
        })
    }
}
