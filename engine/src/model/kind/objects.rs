//! What kube steps act on: a place (context and namespace), a resource type, and which of its
//! objects, by name or label selector. [`ObjectRef`] is the one borrowed view of that which every
//! kube kind gives its executor.

use meshbook_inspect::labels::Selector;

use crate::model::fold::Folder;
use crate::model::grammar::{Rendered, Stage, Templated, Written};

/// Where a kube step acts: a kubeconfig context (the current one when absent) and a namespace
/// (the step's objects' own, else this, else the context's default).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Place {
    /// The kubeconfig context.
    pub context: Option<String>,
    /// The namespace.
    pub namespace: Option<String>,
}

impl Place {
    /// A place in `context` (the current context when `None`), in its default namespace.
    pub fn context(context: Option<String>) -> Place {
        Place {
            context,
            namespace: None,
        }
    }

    pub(crate) fn fold<F: Folder>(&self, f: &mut F) -> Result<Place, F::Error> {
        Ok(Place {
            context: f.opt_text("context", self.context.as_ref())?,
            namespace: f.opt_text("namespace", self.namespace.as_ref())?,
        })
    }
}

/// Which objects of a type a step means.
#[derive(Clone, Debug, PartialEq)]
pub enum Which<S: Stage = Written> {
    /// One object, by name.
    Name(String),
    /// The objects a label selector matches.
    Selector(S::Of<Selector>),
    /// Every object (`kube.get` without `name` or `selector`).
    All,
}

impl Which {
    /// Exactly one of a written `name` and `selector`; `name_key` is how the kind calls the name.
    pub(crate) fn one_of(
        name: Option<String>,
        selector: Option<Templated<Selector>>,
        name_key: &str,
    ) -> Result<Which, String> {
        match (name, selector) {
            (Some(n), None) => Ok(Which::Name(n)),
            (None, Some(s)) => Ok(Which::Selector(s)),
            _ => Err(format!("needs exactly one of `{name_key}` or `selector`")),
        }
    }

    /// At most one of a written `name` and `selector`: neither means every object.
    pub(crate) fn at_most_one(
        name: Option<String>,
        selector: Option<Templated<Selector>>,
    ) -> Result<Which, String> {
        match (name, selector) {
            (None, None) => Ok(Which::All),
            (name, selector) => Which::one_of(name, selector, "name")
                .map_err(|_| "takes `name` or `selector`, not both".to_string()),
        }
    }

    /// The written `name` and `selector` fields again.
    pub(crate) fn fields(&self) -> (Option<String>, Option<Templated<Selector>>) {
        match self {
            Which::Name(n) => (Some(n.clone()), None),
            Which::Selector(s) => (None, Some(s.clone())),
            Which::All => (None, None),
        }
    }

    pub(crate) fn fold<F: Folder>(
        &self,
        f: &mut F,
        name_key: &str,
    ) -> Result<Which<F::Out>, F::Error> {
        use crate::model::fold::key;
        Ok(match self {
            Which::Name(n) => Which::Name(f.text(&[key(name_key)], n)?),
            Which::Selector(s) => Which::Selector(f.grammar(&[key("selector")], s)?),
            Which::All => Which::All,
        })
    }
}

/// A resource type in a place, and which of its objects.
#[derive(Clone, Debug, PartialEq)]
pub struct Objects<S: Stage = Written> {
    /// Context and namespace.
    pub place: Place,
    /// The resource type as kubectl takes it: `deployment`, `svc`, `gateways.networking.istio.io`.
    pub resource: String,
    /// Which objects.
    pub which: Which<S>,
}

impl Objects {
    pub(crate) fn fold<F: Folder>(&self, f: &mut F) -> Result<Objects<F::Out>, F::Error> {
        Ok(Objects {
            place: self.place.fold(f)?,
            resource: f.text(&[crate::model::fold::key("resource")], &self.resource)?,
            which: self.which.fold(f, "name")?,
        })
    }
}

impl Objects<Rendered> {
    /// The borrowed view executors take.
    pub fn view(&self) -> ObjectRef<'_> {
        ObjectRef::new(&self.place, &self.resource, &self.which)
    }
}

/// The objects a kube step acts on, borrowed from any kind: one view for every executor.
#[derive(Clone, Copy, Debug)]
pub struct ObjectRef<'a> {
    /// The kubeconfig context; the current one when absent.
    pub context: Option<&'a str>,
    /// The namespace; the context's default when absent.
    pub namespace: Option<&'a str>,
    /// The resource type as kubectl takes it.
    pub resource: &'a str,
    /// Which objects.
    pub which: WhichRef<'a>,
}

/// Which objects, borrowed.
#[derive(Clone, Copy, Debug)]
pub enum WhichRef<'a> {
    /// One object by name.
    Name(&'a str),
    /// The objects a label selector matches.
    Selector(&'a Selector),
    /// Every object.
    All,
}

impl<'a> ObjectRef<'a> {
    /// The view of `which` objects of `resource` in `place`.
    pub fn new(place: &'a Place, resource: &'a str, which: &'a Which<Rendered>) -> Self {
        ObjectRef {
            context: place.context.as_deref(),
            namespace: place.namespace.as_deref(),
            resource,
            which: match which {
                Which::Name(n) => WhichRef::Name(n),
                Which::Selector(s) => WhichRef::Selector(s),
                Which::All => WhichRef::All,
            },
        }
    }

    /// One named object of `resource` in a context and namespace.
    pub fn named(
        context: Option<&'a str>,
        namespace: Option<&'a str>,
        resource: &'a str,
        name: &'a str,
    ) -> Self {
        ObjectRef {
            context,
            namespace,
            resource,
            which: WhichRef::Name(name),
        }
    }
}
