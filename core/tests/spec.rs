//! Client-specification tests: every `tests/spec/*.json` holds a snapshot, contexts and the
//! expected results. The fixtures are plain JSON so that other SDKs can run the same suite.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;
use switchboard_core::{CompiledSnapshot, Context, Snapshot, Subject};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    name: String,
    snapshot: Snapshot,
    /// Keys of the flags expected to fail compiling; none if absent.
    #[serde(default)]
    expected_warnings: Vec<String>,
    tests: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    description: String,
    flag: String,
    context: Context,
    /// `{value, variant, reason, error_code?}`, compared with the serialized evaluation detail.
    expected: Value,
}

#[test]
fn every_spec_fixture_evaluates_as_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/spec");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "json"));
    files.sort();
    assert!(
        files.len() >= 4,
        "spec fixtures missing in {}",
        dir.display()
    );

    let mut failures = Vec::new();
    let mut cases = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let spec: Spec =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let flags = CompiledSnapshot::compile(&spec.snapshot);
        let broken: Vec<&str> = flags
            .warnings()
            .iter()
            .map(|w| match &w.subject {
                Subject::Flag(key) | Subject::Segment(key) => key.as_str(),
            })
            .collect();
        assert_eq!(
            broken,
            spec.expected_warnings,
            "{}: {:?}",
            spec.name,
            flags.warnings()
        );
        for case in &spec.tests {
            cases += 1;
            let mut actual =
                serde_json::to_value(flags.evaluate_detail(&case.flag, &case.context)).unwrap();
            let object = actual.as_object_mut().unwrap();
            object.remove("key");
            object.remove("error_message");
            if actual != case.expected {
                failures.push(format!(
                    "{} / {}: expected {}, got {actual}",
                    spec.name, case.description, case.expected
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(cases >= 40, "only {cases} spec cases ran");
}
