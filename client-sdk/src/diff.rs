//! What changed between two snapshots, for change listeners.
//!
//! A flag "changed" when its entry (type, variants, state) differs, when it appeared or
//! disappeared, or when a segment it refers to changed: listeners care about what a flag would
//! answer, and a segment edit changes that as surely as a rule edit does.

use std::collections::{BTreeSet, HashMap};

use switchboard_core::{Segment, Snapshot, SnapshotFlag};

/// Flag keys and config keys that differ between `old` and `new`, each sorted.
pub(crate) fn changes(old: Option<&Snapshot>, new: &Snapshot) -> (Vec<String>, Vec<String>) {
    let Some(old) = old.filter(|o| o.project == new.project && o.environment == new.environment)
    else {
        // First snapshot, or another environment altogether: everything is new.
        let flags = new
            .flags
            .iter()
            .map(|f| f.key.clone())
            .collect::<BTreeSet<_>>();
        return (
            flags.into_iter().collect(),
            new.config.keys().cloned().collect(),
        );
    };
    (changed_flags(old, new), changed_config(old, new))
}

fn changed_flags(old: &Snapshot, new: &Snapshot) -> Vec<String> {
    let segments = changed_segments(&old.segments, &new.segments);
    let old_flags = by_key(&old.flags);
    let new_flags = by_key(&new.flags);
    let mut changed = BTreeSet::new();
    for (&key, &flag) in &new_flags {
        let same = old_flags.get(key).is_some_and(|&o| o == flag);
        if !same || uses_any(flag, &segments) {
            changed.insert(key.to_owned());
        }
    }
    for &key in old_flags.keys() {
        if !new_flags.contains_key(key) {
            changed.insert(key.to_owned());
        }
    }
    changed.into_iter().collect()
}

/// Keyed by flag key; the first definition wins, as in the compiled snapshot.
fn by_key(flags: &[SnapshotFlag]) -> HashMap<&str, &SnapshotFlag> {
    let mut map = HashMap::with_capacity(flags.len());
    for flag in flags {
        map.entry(flag.key.as_str()).or_insert(flag);
    }
    map
}

fn changed_segments<'a>(old: &'a [Segment], new: &'a [Segment]) -> BTreeSet<&'a str> {
    let by_name = |segments: &'a [Segment]| {
        let mut map = HashMap::with_capacity(segments.len());
        for s in segments {
            map.entry(s.name.as_str()).or_insert(s);
        }
        map
    };
    let (old, new) = (by_name(old), by_name(new));
    let mut changed: BTreeSet<&str> = new
        .iter()
        .filter(|(name, s)| old.get(*name) != Some(*s))
        .map(|(&name, _)| name)
        .collect();
    changed.extend(old.keys().filter(|name| !new.contains_key(*name)));
    changed
}

fn uses_any(flag: &SnapshotFlag, segments: &BTreeSet<&str>) -> bool {
    !segments.is_empty()
        && flag
            .state
            .rules
            .iter()
            .flat_map(|rule| &rule.conditions)
            .filter(|c| c.op.is_segment())
            .flat_map(|c| &c.values)
            .any(|v| v.as_str().is_some_and(|name| segments.contains(name)))
}

fn changed_config(old: &Snapshot, new: &Snapshot) -> Vec<String> {
    let mut changed: BTreeSet<&String> = new
        .config
        .iter()
        .filter(|(key, value)| old.config.get(*key) != Some(*value))
        .map(|(key, _)| key)
        .collect();
    changed.extend(old.config.keys().filter(|k| !new.config.contains_key(*k)));
    changed.into_iter().cloned().collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn snapshot(body: serde_json::Value) -> Snapshot {
        let mut full =
            json!({"format_version": 1, "project": "p", "environment": "e", "revision": 1});
        if let (Some(full), Some(body)) = (full.as_object_mut(), body.as_object()) {
            full.extend(body.clone());
        }
        serde_json::from_value(full).unwrap()
    }

    fn flag(key: &str, enabled: bool, segment: Option<&str>) -> serde_json::Value {
        let rules = match segment {
            Some(s) => json!([{"conditions": [{"op": "in_segment", "values": [s]}],
                               "serve": {"variant": "on"}}]),
            None => json!([]),
        };
        json!({"key": key, "type": "boolean",
               "variants": [{"key": "on", "value": true}, {"key": "off", "value": false}],
               "state": {"enabled": enabled, "rules": rules, "default_serve": {"variant": "on"},
                         "off_variant": "off"}})
    }

    #[test]
    fn a_first_snapshot_changes_every_flag_and_config_key() {
        let new = snapshot(
            json!({"flags": [flag("b", true, None), flag("a", true, None)],
                                  "config": {"limit": 1}}),
        );
        assert_eq!(
            changes(None, &new),
            (vec!["a".into(), "b".into()], vec!["limit".into()])
        );
    }

    #[test]
    fn edited_added_and_removed_flags_are_reported_and_untouched_ones_are_not() {
        let old = snapshot(
            json!({"flags": [flag("same", true, None), flag("edited", true, None),
                                            flag("removed", true, None)],
                                  "config": {"kept": 1, "edited": 1, "removed": 1}}),
        );
        let new = snapshot(
            json!({"flags": [flag("same", true, None), flag("edited", false, None),
                                            flag("added", true, None)],
                                  "config": {"kept": 1, "edited": 2, "added": 1}}),
        );
        let (flags, config) = changes(Some(&old), &new);
        assert_eq!(flags, ["added", "edited", "removed"]);
        assert_eq!(config, ["added", "edited", "removed"]);
    }

    #[test]
    fn a_segment_edit_changes_the_flags_that_use_it() {
        let segment = |country: &str| {
            json!([{"name": "eu", "conditions": [
                {"attribute": "country", "op": "in", "values": [country]}]}])
        };
        let flags = json!([flag("uses-eu", true, Some("eu")), flag("plain", true, None)]);
        let old = snapshot(json!({"flags": flags, "segments": segment("FR")}));
        let new = snapshot(json!({"flags": flags, "segments": segment("DE")}));
        assert_eq!(changes(Some(&old), &new).0, ["uses-eu"]);
    }

    #[test]
    fn another_environment_counts_as_a_first_snapshot() {
        let old = snapshot(json!({"flags": [flag("a", true, None)]}));
        let mut new = old.clone();
        new.environment = "other".into();
        assert_eq!(changes(Some(&old), &new).0, ["a"]);
    }
}
