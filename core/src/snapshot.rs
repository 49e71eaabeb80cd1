//! The SDK snapshot: everything a client needs to evaluate one environment's flags locally.
//!
//! Served by `GET /v1/sdk/snapshot`, streamed on change, and accepted as a bootstrap file by the
//! client crate. The format is versioned by [`FORMAT_VERSION`]. Readers reject unknown fields
//! (a typo or a newer writer must fail loudly, not be half-understood), so any change to the shape
//! bumps the number; a reader refuses a version it does not know instead of guessing, and keeps
//! the snapshot it already has.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{FlagDefinition, FlagState, FlagType, Segment, Variant};

/// The snapshot format this crate reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// One environment's flags, segments and config at one revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// Always [`FORMAT_VERSION`]; deserializing any other number fails.
    pub format_version: FormatVersion,
    pub project: String,
    pub environment: String,
    /// Increases with every change to the environment; clients keep the highest they have seen.
    pub revision: u64,
    #[serde(default)]
    pub flags: Vec<SnapshotFlag>,
    /// Every segment of the project (segments are per project, not per environment).
    #[serde(default)]
    pub segments: Vec<Segment>,
    /// Resolved config entries (parent chain already applied). A `BTreeMap` so that the
    /// serialized body, and therefore its ETag, is the same for the same content.
    #[serde(default)]
    pub config: BTreeMap<String, Value>,
}

impl Snapshot {
    /// An empty snapshot for `project`/`environment` at `revision`.
    pub fn new(project: impl Into<String>, environment: impl Into<String>, revision: u64) -> Self {
        Self {
            format_version: FormatVersion,
            project: project.into(),
            environment: environment.into(),
            revision,
            flags: Vec::new(),
            segments: Vec::new(),
            config: BTreeMap::new(),
        }
    }
}

/// A flag as the evaluator needs it: the definition minus its descriptive fields, plus the
/// environment's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotFlag {
    pub key: String,
    #[serde(rename = "type")]
    pub flag_type: FlagType,
    pub variants: Vec<Variant>,
    pub state: FlagState,
}

impl SnapshotFlag {
    /// The snapshot entry of a flag in one environment.
    pub fn new(definition: &FlagDefinition, state: FlagState) -> Self {
        Self {
            key: definition.key.clone(),
            flag_type: definition.flag_type,
            variants: definition.variants.clone(),
            state,
        }
    }
}

/// Marker for the snapshot's `format_version` field: (de)serializes as [`FORMAT_VERSION`] and
/// rejects every other number, so an old client fails loudly on a new format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FormatVersion;

impl Serialize for FormatVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(FORMAT_VERSION)
    }
}

impl<'de> Deserialize<'de> for FormatVersion {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let v = u32::deserialize(deserializer)?;
        if v == FORMAT_VERSION {
            Ok(FormatVersion)
        } else {
            Err(serde::de::Error::custom(format_args!(
                "unsupported snapshot format_version {v}; this reader supports {FORMAT_VERSION}"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_unknown_format_version_is_refused() {
        let body = json!({"format_version": 2, "project": "p", "environment": "e", "revision": 1});
        let err = serde_json::from_value::<Snapshot>(body).unwrap_err();
        assert!(
            err.to_string()
                .contains("unsupported snapshot format_version 2")
        );
    }

    #[test]
    fn a_minimal_snapshot_round_trips() {
        let body = json!({"format_version": 1, "project": "p", "environment": "e", "revision": 7});
        let snapshot: Snapshot = serde_json::from_value(body).unwrap();
        assert_eq!(snapshot, Snapshot::new("p", "e", 7));
        let back = serde_json::to_value(&snapshot).unwrap();
        assert_eq!(back["format_version"], 1);
        assert_eq!(back["flags"], json!([]));
    }
}
