//! Rendering a step's template fields on the typed model, through the one visitor every kind
//! defines (`fold`): strictly for a run, which also parses the fields that have a grammar, and
//! leniently for a plan, which keeps what it cannot render yet.

use std::convert::Infallible;

use crate::locate::{Seg, display_path};
use crate::model::fold::Folder;
use crate::model::{Action, Grammar, Rendered, Templated, Until, Written};
use crate::template::Renderer;

/// Values by name as templates see them.
pub fn data<'a>(values: impl IntoIterator<Item = (&'a str, &'a str)>) -> serde_json::Value {
    serde_json::Value::Object(
        values
            .into_iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
            .collect(),
    )
}

/// Why a field could not be rendered, or what it rendered to does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct RenderError {
    /// The field, as `kube.get.selector`.
    pub field: String,
    /// What went wrong.
    pub reason: String,
}

/// Renders every template field from known values and parses what has a grammar: what an
/// executor is given.
pub struct Render<'a> {
    renderer: &'a Renderer,
    data: &'a serde_json::Value,
    prefix: &'static str,
}

impl<'a> Render<'a> {
    /// Rendering with `data` (see [`data`]).
    pub fn new(renderer: &'a Renderer, data: &'a serde_json::Value) -> Self {
        Render {
            renderer,
            data,
            prefix: "",
        }
    }

    /// The action, rendered.
    pub fn action(&mut self, action: &Action) -> Result<Action<Rendered>, RenderError> {
        self.prefix = action.kind();
        action.fold(self)
    }

    /// A `wait.until` condition, rendered.
    pub fn until(&mut self, until: &Until) -> Result<Until<Rendered>, RenderError> {
        self.prefix = "wait.until";
        until.fold(self, &[])
    }

    /// One text, rendered; `what` names it in an error.
    pub fn text(&self, what: &str, text: &str) -> Result<String, RenderError> {
        self.renderer
            .render(text, self.data)
            .map_err(|e| RenderError {
                field: what.to_string(),
                reason: e.to_string(),
            })
    }

    fn field(&self, at: &[Seg]) -> String {
        match (self.prefix, display_path(at)) {
            (prefix, path) if path.is_empty() => prefix.to_string(),
            ("", path) => path,
            (prefix, path) => format!("{prefix}.{path}"),
        }
    }
}

impl Folder for Render<'_> {
    type Out = Rendered;
    type Error = RenderError;

    fn text(&mut self, at: &[Seg], text: &str) -> Result<String, RenderError> {
        Render::text(self, &self.field(at), text)
    }

    fn grammar<T: Grammar>(&mut self, at: &[Seg], field: &Templated<T>) -> Result<T, RenderError> {
        if let Some(parsed) = field.parsed() {
            return Ok(parsed.clone());
        }
        let text = Folder::text(self, at, field.text())?;
        T::parse(&text).map_err(|reason| RenderError {
            field: self.field(at),
            reason,
        })
    }
}

/// The plan's rendering: each field on its own, keeping a field's template text when it cannot
/// be rendered yet (a helper such as `b64dec` applied to a placeholder).
pub(crate) struct Lenient<'a> {
    pub(crate) renderer: &'a Renderer,
    pub(crate) data: &'a serde_json::Value,
}

impl Folder for Lenient<'_> {
    type Out = Written;
    type Error = Infallible;

    fn text(&mut self, _: &[Seg], text: &str) -> Result<String, Infallible> {
        Ok(self
            .renderer
            .render(text, self.data)
            .unwrap_or_else(|_| text.to_string()))
    }

    fn grammar<T: Grammar>(
        &mut self,
        at: &[Seg],
        field: &Templated<T>,
    ) -> Result<Templated<T>, Infallible> {
        let text = self.text(at, field.text())?;
        Ok(Templated::shown(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Which, WhichRef};

    fn get(body: &str) -> Action {
        let value: serde_yaml::Value = serde_yaml::from_str(body).unwrap();
        Action::read("kube.get", value).unwrap().unwrap()
    }

    #[test]
    fn renders_fields_and_parses_their_grammar_once_rendered() {
        let action = get("{resource: svc, selector: '{{APP}}', jsonpath: '{.items[0].x}'}");
        let renderer = Renderer::new();
        let values = data([("APP", "app=web")]);
        let Action::KubeGet(g) = Render::new(&renderer, &values).action(&action).unwrap() else {
            panic!("not a get")
        };
        let WhichRef::Selector(sel) = g.objects.view().which else {
            panic!("not a selector")
        };
        assert_eq!(sel.as_str(), "app=web");
        assert!(matches!(g.objects.which, Which::Selector(_)));

        let bad = data([("APP", "a b")]);
        let err = Render::new(&renderer, &bad).action(&action).unwrap_err();
        assert_eq!(err.field, "kube.get.selector");
        assert!(err.reason.contains("invalid label selector"), "{err}");
        let err = Render::new(&renderer, &data([]))
            .action(&action)
            .unwrap_err();
        assert_eq!(err.to_string(), "kube.get.selector: `APP` is not defined");
    }

    #[test]
    fn the_plan_keeps_what_it_cannot_render() {
        let action = get("{resource: svc, name: '{{b64dec X}}-{{Y}}', jsonpath: '{.x}'}");
        let renderer = Renderer::new();
        let values = data([("X", "⟨X from a⟩"), ("Y", "y")]);
        let mut lenient = Lenient {
            renderer: &renderer,
            data: &values,
        };
        let Ok(Action::KubeGet(g)) = action.fold(&mut lenient) else {
            panic!("not a get")
        };
        assert_eq!(g.objects.which, Which::Name("{{b64dec X}}-{{Y}}".into()));
    }
}
