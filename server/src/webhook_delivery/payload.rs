//! What a delivery's body says, built from the audit event it stands for (at send time, from
//! the append-only audit row). The audit log's before/after are the resources' public
//! representations, which never hold a secret value or a token, so neither can a body.

use serde_json::{Value, json};

use crate::store::audit::AuditEvent;
use crate::webhooks::Format;

/// The body of `event` in `format`, serialized once (the signature covers these bytes).
pub fn body(event: &AuditEvent, format: Format) -> Vec<u8> {
    let value = match format {
        Format::Standard => standard(event),
        Format::Slack => json!({ "text": slack_text(event) }),
    };
    serde_json::to_vec(&value).unwrap_or_default()
}

/// `{"type", "timestamp", "data"}`: the envelope the Standard Webhooks convention suggests.
/// The source address of the change is left out: receivers are often third parties.
fn standard(event: &AuditEvent) -> Value {
    json!({
        "type": event.action,
        "timestamp": event.at,
        "data": {
            "audit_event_id": event.id,
            "action": event.action,
            "actor": event.actor,
            "project": event.project,
            "environment": event.environment,
            "target": event.target,
            "request_id": event.request_id,
            "before": event.before,
            "after": event.after,
        }
    })
}

/// One line for an incident channel: what happened, to what, where, by whom.
fn slack_text(event: &AuditEvent) -> String {
    let place = match (&event.project, &event.environment) {
        (Some(project), Some(environment)) => format!(" in {project}/{environment}"),
        (Some(project), None) => format!(" in {project}"),
        _ => String::new(),
    };
    let state = match (&event.before, &event.after) {
        (_, Some(after)) if after.get("enabled").is_some() => {
            format!(" (enabled: {})", after["enabled"])
        }
        _ => String::new(),
    };
    escape(&format!(
        "Switchboard: `{}` on `{}`{place}{state} by {} at {}",
        event.action, event.target, event.actor.name, event.at
    ))
}

/// Slack's mrkdwn reserves `&`, `<` and `>`.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::audit::AuditActor;

    fn event() -> AuditEvent {
        AuditEvent {
            id: 7,
            at: "2026-12-02T09:00:00Z".into(),
            actor: AuditActor {
                token_id: Some("t1".into()),
                name: "ops <night>".into(),
            },
            source_ip: Some("203.0.113.9".into()),
            request_id: None,
            action: "flag.enable".into(),
            project: Some("shop".into()),
            environment: Some("production".into()),
            target: "flag/checkout".into(),
            before: Some(json!({ "enabled": false })),
            after: Some(json!({ "enabled": true })),
        }
    }

    #[test]
    fn the_standard_body_carries_the_event_without_its_source_address() {
        let body: Value = serde_json::from_slice(&body(&event(), Format::Standard)).unwrap();
        assert_eq!(body["type"], "flag.enable");
        assert_eq!(body["timestamp"], "2026-12-02T09:00:00Z");
        assert_eq!(body["data"]["after"]["enabled"], true);
        assert_eq!(body["data"]["actor"]["name"], "ops <night>");
        assert!(!body.to_string().contains("203.0.113.9"));
    }

    #[test]
    fn the_slack_body_is_one_escaped_line_of_text() {
        let body: Value = serde_json::from_slice(&body(&event(), Format::Slack)).unwrap();
        let text = body["text"].as_str().unwrap();
        assert_eq!(body.as_object().unwrap().len(), 1);
        assert!(
            text.contains("`flag.enable` on `flag/checkout` in shop/production"),
            "{text}"
        );
        assert!(text.contains("(enabled: true)"), "{text}");
        assert!(text.contains("ops &lt;night&gt;"), "{text}");
    }
}
