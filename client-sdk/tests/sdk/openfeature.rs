//! The OpenFeature provider, through the `open-feature` crate's own client.

use open_feature::provider::{FeatureProvider, ProviderStatus};
use open_feature::{EvaluationContext, EvaluationErrorCode, EvaluationReason, OpenFeature};
use serde_json::json;
use switchboard_client::openfeature::SwitchboardProvider;
use switchboard_client::{Client, KillList};

use crate::common::{on, rollout, snapshot};

fn offline_provider(with_snapshot: bool) -> SwitchboardProvider {
    let mut builder = Client::builder("http://unused", "unused")
        .kill_list(KillList::none())
        .offline();
    if with_snapshot {
        let flags = json!([on("new-checkout"), rollout("half", 5000),
            {"key": "layout", "type": "json",
             "variants": [{"key": "wide", "value": {"columns": 3, "ratio": 0.5}},
                          {"key": "list", "value": [1, 2]}],
             "state": {"enabled": true, "default_serve": {"variant": "wide"}, "off_variant": "list"}}]);
        builder = builder.bootstrap(snapshot(1, flags, json!({})));
    }
    SwitchboardProvider::new(builder.build().unwrap())
}

#[tokio::test]
async fn openfeature_clients_evaluate_through_the_provider_with_reasons_and_variants() {
    let provider = offline_provider(true);
    let client = provider.client().clone();
    let mut api = OpenFeature::singleton_mut().await;
    api.set_provider(provider).await;
    let flags = api.create_client();
    drop(api);
    let user = EvaluationContext::default()
        .with_targeting_key("user-1")
        .with_custom_field("plan", "pro");

    let details = flags
        .get_bool_details("new-checkout", Some(&user), None)
        .await
        .unwrap();
    assert_eq!(
        (details.value, details.reason),
        (true, Some(EvaluationReason::Static))
    );
    assert_eq!(details.variant.as_deref(), Some("on"));
    let split = flags
        .get_bool_details("half", Some(&user), None)
        .await
        .unwrap();
    assert_eq!(split.reason, Some(EvaluationReason::Split));
    assert_eq!(
        split.value,
        client.bool_value(
            "half",
            &switchboard_client::Context::with_targeting_key("user-1"),
            !split.value
        )
    );

    let missing = flags
        .get_bool_value("no-such-flag", Some(&user), None)
        .await
        .unwrap_err();
    assert_eq!(missing.code, EvaluationErrorCode::FlagNotFound);
    let mismatch = flags
        .get_string_value("new-checkout", Some(&user), None)
        .await
        .unwrap_err();
    assert_eq!(mismatch.code, EvaluationErrorCode::TypeMismatch);
    let anonymous = flags.get_bool_value("half", None, None).await.unwrap_err();
    assert_eq!(anonymous.code, EvaluationErrorCode::TargetingKeyMissing);

    client.kill("new-checkout");
    let killed = flags
        .get_bool_value("new-checkout", Some(&user), None)
        .await
        .unwrap_err();
    assert_eq!(killed.code, EvaluationErrorCode::General("KILLED".into()));
    assert!(
        !flags
            .get_bool_value("new-checkout", Some(&user), None)
            .await
            .unwrap_or(false)
    );
}

#[tokio::test]
async fn the_provider_resolves_structs_and_reports_readiness() {
    let provider = offline_provider(true);
    let ctx = EvaluationContext::default();

    let layout = provider.resolve_struct_value("layout", &ctx).await.unwrap();
    assert_eq!(layout.value.fields.len(), 2);
    assert_eq!(layout.variant.as_deref(), Some("wide"));
    assert_eq!(
        provider.status(),
        ProviderStatus::STALE,
        "offline: never confirmed by a server"
    );

    let empty = offline_provider(false);
    assert_eq!(empty.status(), ProviderStatus::NotReady);
    let error = empty
        .resolve_bool_value("new-checkout", &ctx)
        .await
        .unwrap_err();
    assert_eq!(error.code, EvaluationErrorCode::ProviderNotReady);
}
