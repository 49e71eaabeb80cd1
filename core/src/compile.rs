//! Compiling a [`Snapshot`] into a [`CompiledSnapshot`]: done once per snapshot revision, so that
//! evaluation does no parsing, no variant lookups by name and no allocation.
//!
//! A flag that fails to compile does not fail the snapshot: it is kept as a *broken* flag that
//! evaluates to `ERROR` (the caller's default), and a [`CompileWarning`] says why. One bad flag
//! must never take the other flags of an application down with it.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde_json::Value;

use crate::context::TARGETING_KEY;
use crate::hash::{BUCKETS, SaltedHash};
use crate::model::{FlagType, Operator, Segment, Serve};
use crate::ops::CompiledCondition;
use crate::result::ErrorCode;
use crate::snapshot::{Snapshot, SnapshotFlag};
use crate::validate::{self, FieldError, Kind, ValidationErrors};

/// A snapshot ready for evaluation. Cheap to share behind an `Arc`; immutable once built.
#[derive(Debug)]
pub struct CompiledSnapshot {
    pub(crate) project: String,
    pub(crate) environment: String,
    pub(crate) revision: u64,
    /// Flag key → index into `flags`. Keys are looked up on every evaluation, hence foldhash.
    pub(crate) index: HashMap<Box<str>, usize, foldhash::fast::RandomState>,
    /// In snapshot order, so that "evaluate everything" answers are stable.
    pub(crate) flags: Vec<CompiledFlag>,
    pub(crate) segments: Vec<CompiledSegment>,
    pub(crate) config: BTreeMap<String, Value>,
    pub(crate) warnings: Vec<CompileWarning>,
}

/// A problem found while compiling: the thing it concerns and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileWarning {
    pub subject: Subject,
    pub message: String,
}

/// What a [`CompileWarning`] is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Flag(String),
    Segment(String),
}

impl fmt::Display for CompileWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.subject {
            Subject::Flag(key) => write!(f, "flag {key:?}: {}", self.message),
            Subject::Segment(name) => write!(f, "segment {name:?}: {}", self.message),
        }
    }
}

#[derive(Debug)]
pub(crate) struct CompiledFlag {
    pub(crate) key: Box<str>,
    pub(crate) flag_type: FlagType,
    pub(crate) program: Result<Program, Broken>,
}

/// Why a flag evaluates to `ERROR`.
#[derive(Debug)]
pub(crate) struct Broken {
    pub(crate) code: ErrorCode,
    pub(crate) message: Box<str>,
}

#[derive(Debug)]
pub(crate) struct Program {
    /// `(key, value)`, in definition order; everything else refers to variants by index.
    pub(crate) variants: Box<[(Box<str>, Value)]>,
    pub(crate) enabled: bool,
    pub(crate) off: usize,
    pub(crate) rules: Box<[CompiledRule]>,
    pub(crate) default: CompiledServe,
}

#[derive(Debug)]
pub(crate) struct CompiledRule {
    pub(crate) conditions: Box<[CompiledCondition]>,
    pub(crate) serve: CompiledServe,
}

#[derive(Debug)]
pub(crate) enum CompiledServe {
    Fixed(usize),
    Split(CompiledSplit),
}

#[derive(Debug)]
pub(crate) struct CompiledSplit {
    pub(crate) stickiness: Box<str>,
    pub(crate) stickiness_is_targeting_key: bool,
    /// The rollout hash with the salt absorbed (the flag key unless the split names one).
    pub(crate) salt: SaltedHash,
    /// `(cumulative weight, variant index)`: the first arm whose cumulative weight is greater
    /// than the bucket wins. Zero-weight arms are dropped; they could never win.
    pub(crate) arms: Box<[(u16, usize)]>,
}

#[derive(Debug)]
pub(crate) struct CompiledSegment {
    /// `Err` for a segment that failed to compile; flags referring to it are broken.
    pub(crate) conditions: Result<Box<[CompiledCondition]>, Box<str>>,
}

impl CompiledSnapshot {
    /// Compiles every segment and flag. Never fails: problems become [`CompileWarning`]s and
    /// broken flags.
    pub fn compile(snapshot: &Snapshot) -> Self {
        let mut warnings = Vec::new();
        let segments: Vec<CompiledSegment> = snapshot
            .segments
            .iter()
            .map(|s| compile_segment(s, &mut warnings))
            .collect();
        // Names resolve to the first definition, as flag keys do.
        let mut segment_index = SegmentIndex::default();
        for (i, segment) in snapshot.segments.iter().enumerate() {
            match segment_index.entry(segment.name.as_str()) {
                Entry::Vacant(slot) => {
                    slot.insert(i);
                }
                Entry::Occupied(_) => warnings.push(CompileWarning {
                    subject: Subject::Segment(segment.name.clone()),
                    message: "duplicate segment name; the first definition is used".to_owned(),
                }),
            }
        }
        let mut index = HashMap::with_capacity_and_hasher(snapshot.flags.len(), Default::default());
        let mut flags = Vec::with_capacity(snapshot.flags.len());
        for flag in &snapshot.flags {
            if index.contains_key(flag.key.as_str()) {
                warnings.push(CompileWarning {
                    subject: Subject::Flag(flag.key.clone()),
                    message: "duplicate flag key; the first definition is used".to_owned(),
                });
                continue;
            }
            let compiled = compile_flag(flag, &segments, &segment_index);
            if let Err(broken) = &compiled.program {
                warnings.push(CompileWarning {
                    subject: Subject::Flag(flag.key.clone()),
                    message: broken.message.to_string(),
                });
            }
            index.insert(flag.key.as_str().into(), flags.len());
            flags.push(compiled);
        }
        Self {
            project: snapshot.project.clone(),
            environment: snapshot.environment.clone(),
            revision: snapshot.revision,
            index,
            flags,
            segments,
            config: snapshot.config.clone(),
            warnings,
        }
    }

    /// Problems found while compiling (broken flags and segments); empty for a healthy snapshot.
    pub fn warnings(&self) -> &[CompileWarning] {
        &self.warnings
    }

    pub fn project(&self) -> &str {
        &self.project
    }

    pub fn environment(&self) -> &str {
        &self.environment
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Resolved config entries.
    pub fn config(&self) -> &BTreeMap<String, Value> {
        &self.config
    }

    /// Flag keys, in snapshot order.
    pub fn flag_keys(&self) -> impl Iterator<Item = &str> {
        self.flags.iter().map(|f| &*f.key)
    }

    /// The declared type of a flag, if it exists.
    pub fn flag_type(&self, key: &str) -> Option<FlagType> {
        self.flag(key).map(|f| f.flag_type)
    }

    pub(crate) fn flag(&self, key: &str) -> Option<&CompiledFlag> {
        self.index.get(key).and_then(|&i| self.flags.get(i))
    }
}

impl From<&Snapshot> for CompiledSnapshot {
    fn from(snapshot: &Snapshot) -> Self {
        Self::compile(snapshot)
    }
}

fn summary(errors: Vec<FieldError>) -> (ErrorCode, Box<str>) {
    let code = if errors.iter().any(|e| e.kind == Kind::Parse) {
        ErrorCode::ParseError
    } else {
        ErrorCode::General
    };
    (code, ValidationErrors(errors).to_string().into())
}

fn compile_segment(segment: &Segment, warnings: &mut Vec<CompileWarning>) -> CompiledSegment {
    let errors = validate::check_segment_for_compile(segment);
    let conditions = if errors.is_empty() {
        segment
            .conditions
            .iter()
            .map(|c| compile_attribute_condition(c.attribute.as_deref(), c.op, &c.values))
            .collect::<Result<Box<[_]>, _>>()
            .map_err(Box::from)
    } else {
        Err(summary(errors).1)
    };
    if let Err(message) = &conditions {
        warnings.push(CompileWarning {
            subject: Subject::Segment(segment.name.clone()),
            message: message.to_string(),
        });
    }
    CompiledSegment { conditions }
}

fn compile_attribute_condition(
    attribute: Option<&str>,
    op: Operator,
    values: &[Value],
) -> Result<CompiledCondition, String> {
    let name =
        attribute.ok_or_else(|| format!("`{}` needs an attribute", crate::ops::op_name(op)))?;
    CompiledCondition::attribute(name, op, values)
}

/// Segment name → index into the compiled segments.
type SegmentIndex<'a> = HashMap<&'a str, usize, foldhash::fast::RandomState>;

fn compile_flag(
    flag: &SnapshotFlag,
    segments: &[CompiledSegment],
    segment_index: &SegmentIndex<'_>,
) -> CompiledFlag {
    let errors =
        validate::check_for_compile(flag.flag_type, &flag.variants, &flag.state, &|name| {
            segment_index.contains_key(name)
        });
    let program = if errors.is_empty() {
        build_program(flag, segments, segment_index).map_err(|message| Broken {
            code: ErrorCode::General,
            message,
        })
    } else {
        let (code, message) = summary(errors);
        Err(Broken { code, message })
    };
    CompiledFlag {
        key: flag.key.as_str().into(),
        flag_type: flag.flag_type,
        program,
    }
}

/// Builds a validated flag. Lookups that validation has already vouched for still return errors
/// rather than panicking, and a segment that failed to compile breaks the flags that use it.
fn build_program(
    flag: &SnapshotFlag,
    segments: &[CompiledSegment],
    segment_index: &SegmentIndex<'_>,
) -> Result<Program, Box<str>> {
    let variant = |key: &str| {
        flag.variants
            .iter()
            .position(|v| v.key == key)
            .ok_or_else(|| Box::<str>::from(format!("unknown variant {key:?}")))
    };
    let salt = flag.key.as_str();
    let serve = |s: &Serve| -> Result<CompiledServe, Box<str>> {
        match s {
            Serve::Variant(key) => Ok(CompiledServe::Fixed(variant(key)?)),
            Serve::Split(split) => {
                let mut cumulative: u32 = 0;
                let mut arms = Vec::with_capacity(split.split.len());
                for arm in &split.split {
                    cumulative += arm.weight;
                    if arm.weight > 0 {
                        let upper = u16::try_from(cumulative.min(BUCKETS))
                            .map_err(|_| "weight overflow")?;
                        arms.push((upper, variant(&arm.variant)?));
                    }
                }
                let stickiness = split.stickiness.as_deref().unwrap_or(TARGETING_KEY);
                Ok(CompiledServe::Split(CompiledSplit {
                    stickiness: stickiness.into(),
                    stickiness_is_targeting_key: stickiness == TARGETING_KEY,
                    salt: SaltedHash::new(split.salt.as_deref().unwrap_or(salt)),
                    arms: arms.into(),
                }))
            }
        }
    };
    let mut rules = Vec::with_capacity(flag.state.rules.len());
    for rule in &flag.state.rules {
        let mut conditions = Vec::with_capacity(rule.conditions.len());
        for c in &rule.conditions {
            conditions.push(if c.op.is_segment() {
                compile_segment_condition(c.op, &c.values, segments, segment_index)?
            } else {
                compile_attribute_condition(c.attribute.as_deref(), c.op, &c.values)?
            });
        }
        rules.push(CompiledRule {
            conditions: conditions.into(),
            serve: serve(&rule.serve)?,
        });
    }
    Ok(Program {
        variants: flag
            .variants
            .iter()
            .map(|v| (v.key.as_str().into(), v.value.clone()))
            .collect(),
        enabled: flag.state.enabled,
        off: variant(&flag.state.off_variant)?,
        rules: rules.into(),
        default: serve(&flag.state.default_serve)?,
    })
}

fn compile_segment_condition(
    op: Operator,
    values: &[Value],
    segments: &[CompiledSegment],
    segment_index: &SegmentIndex<'_>,
) -> Result<CompiledCondition, Box<str>> {
    let mut indexes = Vec::with_capacity(values.len());
    for value in values {
        let name = value.as_str().unwrap_or_default();
        let i = *segment_index
            .get(name)
            .ok_or_else(|| Box::<str>::from(format!("unknown segment {name:?}")))?;
        if let Some(Err(problem)) = segments.get(i).map(|s| &s.conditions) {
            return Err(format!("segment {name:?} is invalid: {problem}").into());
        }
        indexes.push(i);
    }
    Ok(CompiledCondition::Segment {
        negate: op == Operator::NotInSegment,
        segments: indexes.into(),
    })
}
