//! The syntax tree of a parsed template.

/// One node of a parsed template; actions are `List`s of path steps.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Text(String),
    List(Vec<Node>),
    Field(String),
    Array([Param; 3]),
    Filter(Box<Filter>),
    Int(i64),
    Float(f64),
    Bool(bool),
    Wildcard,
    Recursive,
    Union(Vec<Vec<Node>>),
    Identifier(String),
}

/// One of the three slice parameters `[start:end:step]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Param {
    pub known: bool,
    pub value: i64,
    /// The end was left out of `[i]` and computed as `start + 1`.
    pub derived: bool,
}

/// `[?(left op right)]`, or `[?(left)]` with the operator `exists`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Filter {
    pub left: Vec<Node>,
    pub right: Vec<Node>,
    pub op: String,
}
