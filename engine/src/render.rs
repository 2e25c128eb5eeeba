//! Renders every string field of a step's action with known values.

use crate::locate::Seg;
use crate::model::Action;
use crate::template::{Renderer, TemplateError};

/// Renders each string inside `value`, keys excepted.
pub fn render_value(
    renderer: &Renderer,
    value: &serde_json::Value,
    data: &serde_json::Value,
) -> Result<serde_json::Value, TemplateError> {
    use serde_json::Value;
    Ok(match value {
        Value::String(s) => Value::String(renderer.render(s, data)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render_value(renderer, v, data))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render_value(renderer, v, data)?)))
                .collect::<Result<_, TemplateError>>()?,
        ),
        other => other.clone(),
    })
}

/// The action with every template rendered from `data` (params and upstream outputs by name).
pub fn render_action(
    renderer: &Renderer,
    action: &Action,
    data: &serde_json::Value,
) -> Result<Action, TemplateError> {
    let raw = serde_json::to_value(action).map_err(|e| TemplateError::Render(e.to_string()))?;
    let rendered = render_value(renderer, &raw, data)?;
    serde_json::from_value(rendered).map_err(|e| TemplateError::Render(e.to_string()))
}

/// Calls `f` with the path and text of every string inside `value`.
pub fn for_each_string(
    value: &serde_json::Value,
    path: &mut Vec<Seg>,
    f: &mut dyn FnMut(&[Seg], &str),
) {
    use serde_json::Value;
    match value {
        Value::String(s) => f(path, s),
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                path.push(Seg::Index(i));
                for_each_string(v, path, f);
                path.pop();
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                path.push(Seg::Key(k.clone()));
                for_each_string(v, path, f);
                path.pop();
            }
        }
        _ => {}
    }
}
