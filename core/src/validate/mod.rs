//! Validation of flag definitions, flag states and segments, for the API's `422` answers.
//!
//! Every check runs and every problem is reported, each with a JSON-path-like pointer to the
//! offending field (`state.rules[2].serve.split[1].weight`), so a client can fix a request in
//! one round trip. The same checks (minus the size limits, which protect the server's storage
//! rather than the evaluator) run when a snapshot is compiled, so anything the API accepts
//! compiles, and anything that does not compile is explained in the same words.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::{FlagDefinition, FlagState, FlagType, Segment, Variant};

mod checks;

use checks::Validator;
/// At most this many rules per flag state.
pub const MAX_RULES: usize = 100;
/// At most this many variants per flag.
pub const MAX_VARIANTS: usize = 100;
/// At most this many conditions per rule or segment.
pub const MAX_CONDITIONS: usize = 100;
/// At most this many values per condition.
pub const MAX_VALUES: usize = 1000;
/// Longest attribute name, in characters.
pub const MAX_ATTRIBUTE_LEN: usize = 128;

/// One problem, located.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// JSON-path-like pointer relative to the validated document, e.g. `variants[1].value`.
    pub field: String,
    /// What is wrong, for a human.
    pub message: String,
    /// Whether a value failed to parse (maps to `PARSE_ERROR` when compiling) or the structure is
    /// inconsistent (`GENERAL`). Not part of the API's answer.
    #[serde(skip)]
    pub(crate) kind: Kind,
}

impl FieldError {
    /// A problem found outside this crate's checks (e.g. a missing request field).
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            kind: Kind::Invalid,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Kind {
    #[default]
    Invalid,
    Parse,
}

/// All problems found in one document; never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(transparent)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    /// Prefixes every field, for documents nested in a larger body: `rules[0]` becomes
    /// `state.rules[0]`.
    #[must_use]
    pub fn prefixed(mut self, prefix: &str) -> Self {
        for e in &mut self.0 {
            e.field = join(prefix, &e.field);
        }
        self
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", e.field, e.message)?;
        }
        Ok(())
    }
}

/// Checks a flag definition on its own (fields relative to the definition: `variants[1].value`).
pub fn validate_definition(definition: &FlagDefinition) -> Result<(), ValidationErrors> {
    let mut v = Validator::api();
    v.definition(definition);
    v.finish()
}

/// Checks one environment's state against its flag's definition (fields relative to the state:
/// `rules[2].serve.split[1].weight`). `segment_exists` answers whether a segment name is known.
pub fn validate_state(
    definition: &FlagDefinition,
    state: &FlagState,
    segment_exists: impl Fn(&str) -> bool,
) -> Result<(), ValidationErrors> {
    let mut v = Validator::api();
    v.state("", &definition.variants, state, &segment_exists);
    v.finish()
}

/// Checks a definition and a state together: definition fields unprefixed, state fields under
/// `state.` — the shape of a snapshot's flag entry.
pub fn validate_flag(
    definition: &FlagDefinition,
    state: &FlagState,
    segment_exists: impl Fn(&str) -> bool,
) -> Result<(), ValidationErrors> {
    let mut v = Validator::api();
    v.definition(definition);
    v.state("state", &definition.variants, state, &segment_exists);
    v.finish()
}

/// Checks a segment (fields relative to the segment: `conditions[0].values`).
pub fn validate_segment(segment: &Segment) -> Result<(), ValidationErrors> {
    let mut v = Validator::api();
    v.key("name", &segment.name);
    v.conditions("", &segment.conditions, None);
    v.finish()
}

/// The compile-time subset: consistency and parsing, no size limits, no key grammar.
pub(crate) fn check_for_compile(
    flag_type: FlagType,
    variants: &[Variant],
    state: &FlagState,
    segment_exists: &dyn Fn(&str) -> bool,
) -> Vec<FieldError> {
    let mut v = Validator {
        errors: Vec::new(),
        limits: false,
    };
    v.variants(flag_type, variants);
    v.state("state", variants, state, segment_exists);
    v.errors
}

pub(crate) fn check_segment_for_compile(segment: &Segment) -> Vec<FieldError> {
    let mut v = Validator {
        errors: Vec::new(),
        limits: false,
    };
    v.conditions("", &segment.conditions, None);
    v.errors
}

fn join(path: &str, field: &str) -> String {
    match (path.is_empty(), field.starts_with('[')) {
        (true, _) => field.to_owned(),
        (false, true) => format!("{path}{field}"),
        (false, false) => format!("{path}.{field}"),
    }
}
