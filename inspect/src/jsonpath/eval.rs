//! Runs a parsed template over a JSON value, step for step as client-go does.
//!
//! Values are walked as lists: every path step maps the list of current values to a new
//! list. A failing step also hands back a partial list, because an existence filter
//! (`[?(@.x[0])]`) keeps an element whenever that list is non-empty, error or not.

use serde_json::Value;

use super::compare;
use super::error::ExecError;
use super::item::Item;
use super::node::{Filter, Node, Param};
use super::print;

/// The children that `.*` and `..` visit: map values, array elements, string bytes.
fn children<'a>(item: Item<'a>) -> Vec<Item<'a>> {
    match item {
        // Go visits map keys in random order; document order is the stable choice.
        Item::Json(Value::Object(map)) => map.values().map(Item::Json).collect(),
        Item::Json(Value::Array(items)) => items.iter().map(Item::Json).collect(),
        Item::Json(Value::String(s)) => s.bytes().map(Item::Byte).collect(),
        Item::Text(s) => s.bytes().map(Item::Byte).collect(),
        _ => Vec::new(),
    }
}

/// A failed step: the error plus the values client-go returns alongside it.
pub(crate) struct Failure<'a> {
    partial: Vec<Item<'a>>,
    error: ExecError,
}

type Step<'a> = Result<Vec<Item<'a>>, Failure<'a>>;

fn fail<'a>(partial: Vec<Item<'a>>, error: ExecError) -> Step<'a> {
    Err(Failure { partial, error })
}

/// Evaluation state; the range counters mirror client-go's so that odd templates
/// (`{range}` without `{end}`, nested ranges) behave the same.
pub(crate) struct Evaluator<'a> {
    nodes: &'a [Node],
    allow_missing_keys: bool,
    begin_range: usize,
    in_range: usize,
    end_range: usize,
    last_end: Option<usize>,
}

impl<'a> Evaluator<'a> {
    pub(crate) fn new(nodes: &'a [Node], allow_missing_keys: bool) -> Self {
        Evaluator {
            nodes,
            allow_missing_keys,
            begin_range: 0,
            in_range: 0,
            end_range: 0,
            last_end: None,
        }
    }

    /// The results of every printed template node, in order (client-go's `FindResults`).
    pub(crate) fn find_results(
        &mut self,
        data: &'a Value,
    ) -> Result<Vec<Vec<Item<'a>>>, ExecError> {
        self.find_from(0, Item::Json(data))
    }

    fn find_from(&mut self, start: usize, data: Item<'a>) -> Result<Vec<Vec<Item<'a>>>, ExecError> {
        let nodes: &'a [Node] = self.nodes.get(start..).unwrap_or(&[]);
        let mut full = Vec::new();
        let mut i = 0;
        while i < nodes.len() {
            let results = self.walk(vec![data], &nodes[i]).map_err(|f| f.error)?;

            if self.end_range > 0 && self.end_range <= self.in_range {
                self.end_range -= 1;
                self.last_end = Some(start + i);
                break;
            }
            if self.begin_range > 0 {
                self.begin_range -= 1;
                self.in_range += 1;
                if results.is_empty() {
                    // The body still runs once, on no value, to find its `{end}`.
                    self.find_from(start + i + 1, Item::Invalid)?;
                } else {
                    for value in results {
                        // Go hands the body `value.Interface()`: a null becomes "no value".
                        let value = if value.is_null() {
                            Item::Invalid
                        } else {
                            value
                        };
                        full.extend(self.find_from(start + i + 1, value)?);
                    }
                }
                self.in_range -= 1;
                if let Some(k) = (i + 1..nodes.len()).find(|&k| self.last_end == Some(start + k)) {
                    i = k;
                }
                i += 1;
                continue;
            }
            full.push(results);
            i += 1;
        }
        Ok(full)
    }

    fn walk(&mut self, input: Vec<Item<'a>>, node: &'a Node) -> Step<'a> {
        match node {
            Node::List(nodes) => self.eval_list(input, nodes),
            Node::Text(text) => Ok(vec![Item::Text(text)]),
            Node::Field(key) => self.eval_field(input, key),
            Node::Array(params) => eval_array(input, *params),
            Node::Filter(filter) => self.eval_filter(input, filter),
            Node::Int(i) => Ok(vec![Item::Int(*i); input.len()]),
            Node::Float(f) => Ok(vec![Item::Float(*f); input.len()]),
            Node::Bool(b) => Ok(vec![Item::Bool(*b); input.len()]),
            Node::Wildcard => Ok(eval_wildcard(&input)),
            Node::Recursive => Ok(eval_recursive(&input)),
            Node::Union(branches) => self.eval_union(input, branches),
            Node::Identifier(name) => self.eval_identifier(input, name),
        }
    }

    fn eval_list(&mut self, input: Vec<Item<'a>>, nodes: &'a [Node]) -> Step<'a> {
        let mut current = input;
        for node in nodes {
            current = self.walk(current, node)?;
        }
        Ok(current)
    }

    fn eval_identifier(&mut self, input: Vec<Item<'a>>, name: &str) -> Step<'a> {
        match name {
            "range" => {
                self.begin_range += 1;
                Ok(input)
            }
            "end" if self.in_range > 0 => {
                self.end_range += 1;
                Ok(Vec::new())
            }
            "end" => fail(Vec::new(), ExecError::EndOutsideRange),
            _ => fail(input, ExecError::UnrecognizedIdentifier(name.to_string())),
        }
    }

    fn eval_field(&mut self, input: Vec<Item<'a>>, key: &str) -> Step<'a> {
        if input.is_empty() {
            return Ok(input);
        }
        let results: Vec<Item<'a>> = input
            .iter()
            .filter_map(|item| match item {
                Item::Json(Value::Object(map)) => map.get(key).map(Item::Json),
                _ => None,
            })
            .collect();
        if results.is_empty() && !self.allow_missing_keys {
            return fail(results, ExecError::NotFound(key.to_string()));
        }
        Ok(results)
    }

    fn eval_union(&mut self, input: Vec<Item<'a>>, branches: &'a [Vec<Node>]) -> Step<'a> {
        let mut results = Vec::new();
        for branch in branches {
            match self.eval_list(input.clone(), branch) {
                Ok(values) => results.extend(values),
                Err(failure) => return fail(input, failure.error),
            }
        }
        Ok(results)
    }

    fn eval_filter(&mut self, input: Vec<Item<'a>>, filter: &'a Filter) -> Step<'a> {
        let mut results = Vec::new();
        for &value in &input {
            let elements = match value {
                Item::Json(Value::Array(elements)) => elements,
                other => {
                    let shown = filter_subject(other);
                    return fail(input, ExecError::NotFilterable(shown));
                }
            };
            for element in elements {
                let element = Item::Json(element);
                let lefts = self.eval_list(vec![element], &filter.left);
                if filter.op == "exists" {
                    let found = match &lefts {
                        Ok(values) => !values.is_empty(),
                        Err(failure) => !failure.partial.is_empty(),
                    };
                    if found {
                        results.push(element);
                    }
                    continue;
                }
                let left = match lefts {
                    Ok(values) => match values.as_slice() {
                        [] => continue,
                        [one] => *one,
                        _ => return fail(input, ExecError::CompareOneAtATime),
                    },
                    Err(failure) => return fail(input, failure.error),
                };
                let right = match self.eval_list(vec![element], &filter.right) {
                    Ok(values) => match values.as_slice() {
                        [] => continue,
                        [one] => *one,
                        _ => return fail(input, ExecError::CompareOneAtATime),
                    },
                    Err(failure) => return fail(input, failure.error),
                };
                match compare::apply(&filter.op, left, right) {
                    Ok(true) => results.push(element),
                    Ok(false) => {}
                    Err(error) => return fail(results, error),
                }
            }
        }
        Ok(results)
    }
}

/// How a non-array filter subject appears in the error: scalars as Go prints them,
/// strings and maps by type only.
fn filter_subject(item: Item<'_>) -> String {
    match item {
        Item::Json(Value::String(_)) | Item::Text(_) => "<string>".to_string(),
        Item::Json(Value::Object(_)) => "<map[string]interface {}>".to_string(),
        other => {
            let mut out = String::new();
            print::go_value(other, &mut out);
            out
        }
    }
}

fn eval_array<'a>(input: Vec<Item<'a>>, params: [Param; 3]) -> Step<'a> {
    let mut results = Vec::new();
    for &value in &input {
        if value.is_null() {
            continue;
        }
        let Item::Json(Value::Array(elements)) = value else {
            return fail(input, ExecError::NotArray(value.go_type().to_string()));
        };
        let len = elements.len() as i64;
        let [mut start, mut end, step] = params;
        if !start.known {
            start.value = 0;
        }
        if start.value < 0 {
            start.value = start.value.wrapping_add(len);
        }
        if !end.known {
            end.value = len;
        }
        if end.value < 0 || (end.value == 0 && end.derived) {
            end.value = end.value.wrapping_add(len);
        }
        if start.value == end.value {
            // client-go returns here, dropping any remaining inputs (kubectl 1.32 does too).
            return Ok(results);
        }
        if start.value >= len || start.value < 0 {
            let error = ExecError::OutOfBounds {
                index: start.value,
                length: elements.len(),
            };
            return fail(input, error);
        }
        if end.value > len || end.value < 0 {
            let error = ExecError::OutOfBounds {
                index: end.value.wrapping_sub(1),
                length: elements.len(),
            };
            return fail(input, error);
        }
        if start.value > end.value {
            let error = ExecError::StartAfterEnd {
                start: start.value,
                end: end.value,
            };
            return fail(input, error);
        }
        let step = if step.known {
            if step.value <= 0 {
                return fail(input, ExecError::StepNotPositive);
            }
            usize::try_from(step.value).unwrap_or(usize::MAX)
        } else {
            1
        };
        // Both bounds are within 0..=len here.
        let selected = &elements[start.value as usize..end.value as usize];
        results.extend(selected.iter().step_by(step).map(Item::Json));
    }
    Ok(results)
}

fn eval_wildcard<'a>(input: &[Item<'a>]) -> Vec<Item<'a>> {
    input.iter().flat_map(|&item| children(item)).collect()
}

/// Every container (map, array, non-empty string) in pre-order, starting with the input.
fn eval_recursive<'a>(input: &[Item<'a>]) -> Vec<Item<'a>> {
    let mut results = Vec::new();
    for &item in input {
        let kids = children(item);
        if !kids.is_empty() {
            results.push(item);
            results.extend(eval_recursive(&kids));
        }
    }
    results
}
