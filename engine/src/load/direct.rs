//! Reading a clean runbook straight from its text into the model, without the `Value` tree the
//! collecting path builds: the same model types and the same checks, but it stops at the first
//! problem without saying what it is. `None` then sends the text to the collecting path, which
//! reports every mistake with its place; a runbook read here is one that path would read alike
//! without a diagnostic (the tests hold both paths to that).

use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeSeed, Deserializer, Error as _, IntoDeserializer, MapAccess, Visitor};

use super::StepCommon;
use super::strict::Strict;
use super::subset;
use crate::model::{
    API_VERSION, Action, Defaults, KIND_KEYS, Metadata, ParamSpec, Range, Requires, Runbook,
};

/// The document as written: each part in the model type the collecting path reads it into, but
/// `requires` ranges and empty params, which that path reads from the tree by hand.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Document {
    api_version: String,
    kind: String,
    metadata: Metadata,
    #[serde(default)]
    requires: Option<IndexMap<String, Option<String>>>,
    #[serde(default)]
    params: Option<IndexMap<String, Option<ParamSpec>>>,
    #[serde(default)]
    defaults: Option<Defaults>,
    steps: Vec<DirectStep>,
    #[serde(default)]
    finally: Option<Vec<DirectStep>>,
}

/// The runbook in `text`, if it has no problem at all: read by the subset reader, or by
/// serde_yaml when that has any doubt.
pub(super) fn read(text: &str) -> Option<Runbook> {
    read_by(text, Reader::Subset).or_else(|| read_by(text, Reader::SerdeYaml))
}

/// Which reader gives the model the text.
#[derive(Clone, Copy, Debug)]
pub(super) enum Reader {
    /// [`subset`]: the plain YAML runbooks are written in, streamed.
    Subset,
    /// serde_yaml, through [`Strict`]: any YAML.
    SerdeYaml,
}

/// The runbook in `text`, if `reader` reads it and it has no problem at all.
pub(super) fn read_by(text: &str, reader: Reader) -> Option<Runbook> {
    let doc: Document = match reader {
        Reader::Subset => subset::from_str(text)?,
        Reader::SerdeYaml => {
            let de = serde_yaml::Deserializer::from_str(text);
            Document::deserialize(Strict::new(de, text)).ok()?
        }
    };
    let well_formed = doc.api_version == API_VERSION
        && doc.kind == "Runbook"
        && !doc.metadata.name.trim().is_empty();
    if !well_formed {
        return None;
    }
    let mut requires = Requires::default();
    for (name, range) in doc.requires.unwrap_or_default() {
        let range = match range {
            None => Range::ANY,
            Some(text) => Range::parse(&text).ok()?,
        };
        requires.insert(name, range);
    }
    let steps = |list: Vec<DirectStep>| list.into_iter().map(|s| s.0).collect();
    Some(Runbook {
        api_version: doc.api_version,
        kind: doc.kind,
        metadata: doc.metadata,
        requires,
        params: (doc.params.unwrap_or_default().into_iter())
            .map(|(name, spec)| (name, spec.unwrap_or_default()))
            .collect(),
        defaults: doc.defaults.unwrap_or_default(),
        steps: steps(doc.steps),
        finally: doc.finally.map(steps).unwrap_or_default(),
    })
}

/// A step: its common fields read as [`StepCommon`], its one kind as [`Action::read_from`] reads it.
struct DirectStep(crate::model::Step);

impl<'de> Deserialize<'de> for DirectStep {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(StepVisitor)
    }
}

struct StepVisitor;

impl<'de> Visitor<'de> for StepVisitor {
    type Value = DirectStep;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a step")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<DirectStep, A::Error> {
        let mut action = None;
        let common = StepCommon::deserialize(MapAccessDeserializer::new(KindAside {
            map,
            action: &mut action,
        }))?;
        let action = action.ok_or_else(|| A::Error::custom("a step without a kind"))?;
        Ok(DirectStep(common.with(action)))
    }
}

/// A step's mapping with its kind taken aside: what is left are the common fields.
struct KindAside<'a, A> {
    map: A,
    action: &'a mut Option<Action>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for KindAside<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        while let Some(key) = self.map.next_key::<String>()? {
            if !KIND_KEYS.contains(&key.as_str()) {
                return seed.deserialize(key.into_deserializer()).map(Some);
            }
            if self.action.is_some() {
                return Err(A::Error::custom("a step with two kinds"));
            }
            *self.action = Some(self.map.next_value_seed(Kind(&key))?);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

/// The body of the kind it names.
struct Kind<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for Kind<'_> {
    type Value = Action;

    fn deserialize<D: Deserializer<'de>>(self, body: D) -> Result<Action, D::Error> {
        match Action::read_from(self.0, body) {
            Some(Ok(Ok(action))) => Ok(action),
            Some(Err(e)) => Err(e),
            Some(Ok(Err(invalid))) => Err(D::Error::custom(invalid)),
            None => Err(D::Error::custom("not a step kind")),
        }
    }
}
