//! Why running a template failed, in client-go's words.

/// Why running a template failed, with client-go's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// No input of a field step has the key (and missing keys are not allowed).
    #[error("{0} is not found")]
    NotFound(String),
    /// An index or slice was applied to something else; holds the Go type name.
    #[error("{0} is not array or slice")]
    NotArray(String),
    /// A filter was applied to something else. Holds Go's `%v` of a scalar, or
    /// `<string>` / `<map[string]interface {}>` so that object data (which may be a
    /// Secret's) never ends up in an error message.
    #[error("{0} is not array or slice and cannot be filtered")]
    NotFilterable(String),
    /// An index or slice bound outside the array.
    #[error("array index out of bounds: index {index}, length {length}")]
    OutOfBounds {
        /// The offending index after negative indices were resolved.
        index: i64,
        /// The array length.
        length: usize,
    },
    /// A slice whose start comes after its end.
    #[error("starting index {start} is greater than ending index {end}")]
    StartAfterEnd {
        /// Resolved start index.
        start: i64,
        /// Resolved end index.
        end: i64,
    },
    /// A slice step of zero or less.
    #[error("step must be > 0")]
    StepNotPositive,
    /// A bare word other than `range`, `end`, `true` and `false`.
    #[error("unrecognized identifier {0}")]
    UnrecognizedIdentifier(String),
    /// `{end}` without an open `{range}`.
    #[error("not in range, nothing to end")]
    EndOutsideRange,
    /// A filter side produced more than one value for an element.
    #[error("can only compare one element at a time")]
    CompareOneAtATime,
    /// A filter compared values of different kinds (int with float, string with bool, ...).
    #[error("incompatible types for comparison")]
    IncompatibleTypes,
    /// A filter compared null, a map or a list, or ordered booleans.
    #[error("invalid type for comparison")]
    InvalidComparisonType,
    /// A filter operator such as `<>` or `=`.
    #[error("unrecognized filter operator {0}")]
    UnrecognizedOperator(String),
}
