//! Evaluating a plan's guards: a Prometheus instant query compared with a threshold, or an
//! HTTP check URL (2xx passes, any other answer fails).
//!
//! Three outcomes, kept apart on purpose: *pass*, *fail* (the check answered and said no) and
//! *unknown* (monitoring unreachable, too slow, or an answer that cannot be read: an error
//! status from Prometheus, no series, NaN). A failure counts towards rolling back; an unknown
//! pauses the plan, because widening a rollout while blind is what the guards are there to
//! prevent. Requests have a timeout and follow no redirects; the URL an HTTP check uses is
//! checked against the allowed prefixes again at each evaluation (settings may have changed).
//! Query texts and URLs may carry credentials, so neither is ever logged.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::model::{Check, Guard, PrometheusCheck, UrlPolicy};
use crate::settings::Settings;

/// What one guard said.
#[derive(Clone, Debug, PartialEq)]
pub struct GuardResult {
    pub guard: String,
    pub outcome: Outcome,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Pass { observed: Value },
    Fail { observed: Value },
    Unknown { detail: String },
}

/// What a plan's guards said together: a failure outweighs an unknown (it is known bad), an
/// unknown outweighs passes.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Pass,
    Fail { guard: String, observed: Value },
    Unknown { guard: String, detail: String },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub verdict: Verdict,
    pub results: Vec<GuardResult>,
}

impl Evaluation {
    pub fn from_results(results: Vec<GuardResult>) -> Self {
        let failed = results.iter().find_map(|r| match &r.outcome {
            Outcome::Fail { observed } => Some(Verdict::Fail {
                guard: r.guard.clone(),
                observed: observed.clone(),
            }),
            _ => None,
        });
        let unknown = || {
            results.iter().find_map(|r| match &r.outcome {
                Outcome::Unknown { detail } => Some(Verdict::Unknown {
                    guard: r.guard.clone(),
                    detail: detail.clone(),
                }),
                _ => None,
            })
        };
        let verdict = failed.or_else(unknown).unwrap_or(Verdict::Pass);
        Self { verdict, results }
    }

    /// The plan's `last_check`: when, and what each guard said.
    pub fn record(&self, now: i64) -> Value {
        let results: Vec<Value> = self
            .results
            .iter()
            .map(|r| match &r.outcome {
                Outcome::Pass { observed } => {
                    json!({ "guard": r.guard, "outcome": "pass", "observed": observed })
                }
                Outcome::Fail { observed } => {
                    json!({ "guard": r.guard, "outcome": "fail", "observed": observed })
                }
                Outcome::Unknown { detail } => {
                    json!({ "guard": r.guard, "outcome": "unknown", "detail": detail })
                }
            })
            .collect();
        json!({ "at": crate::domain::format_micros(now), "results": results })
    }
}

/// Where guards look and how long they wait, from the settings.
#[derive(Clone, Debug)]
pub struct Monitoring {
    client: reqwest::Client,
    prometheus: Option<reqwest::Url>,
    allowed_prefixes: Vec<String>,
}

impl UrlPolicy for Monitoring {
    fn allows(&self, url: &reqwest::Url) -> bool {
        self.allowed_prefixes
            .iter()
            .any(|prefix| url.as_str().starts_with(prefix.as_str()))
    }

    fn has_prometheus(&self) -> bool {
        self.prometheus.is_some()
    }
}

impl Monitoring {
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.guard_timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let prometheus = settings
            .prometheus_url
            .as_deref()
            .map(reqwest::Url::parse)
            .transpose()
            .map_err(|_| anyhow::anyhow!("SWITCHBOARD_PROMETHEUS_URL is not a URL"))?;
        Ok(Self {
            client,
            prometheus,
            allowed_prefixes: settings.guard_http_allowed_prefixes.clone(),
        })
    }

    /// Evaluates every guard at once (each bounded by the timeout).
    pub async fn evaluate(&self, guards: &[Guard]) -> Evaluation {
        let results = futures_util::future::join_all(guards.iter().map(|guard| async move {
            GuardResult {
                guard: guard.name.clone(),
                outcome: match &guard.check {
                    Check::Prometheus(check) => self.prometheus(check).await,
                    Check::Http(url) => self.http(url).await,
                },
            }
        }))
        .await;
        Evaluation::from_results(results)
    }

    async fn http(&self, url: &reqwest::Url) -> Outcome {
        if !self.allows(url) {
            return unknown("the URL is no longer under an allowed prefix");
        }
        match self.client.get(url.clone()).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                if response.status().is_success() {
                    Outcome::Pass {
                        observed: json!({ "status": status }),
                    }
                } else {
                    Outcome::Fail {
                        observed: json!({ "status": status }),
                    }
                }
            }
            Err(error) => unknown(request_failure(&error)),
        }
    }

    async fn prometheus(&self, check: &PrometheusCheck) -> Outcome {
        let Some(base) = &self.prometheus else {
            return unknown("no Prometheus endpoint is configured");
        };
        let mut url = base.clone();
        url.path_segments_mut()
            .map(|mut segments| {
                segments.pop_if_empty().extend(["api", "v1", "query"]);
            })
            .ok();
        url.query_pairs_mut().append_pair("query", &check.query);
        let response = match self.client.get(url).send().await {
            Ok(response) => response,
            Err(error) => return unknown(request_failure(&error)),
        };
        if !response.status().is_success() {
            return unknown(format!(
                "Prometheus answered HTTP {}",
                response.status().as_u16()
            ));
        }
        let answer: PromAnswer = match response.json().await {
            Ok(answer) => answer,
            Err(_) => return unknown("Prometheus's answer is not a query result"),
        };
        match answer.values() {
            Ok(values) => judge(check, &values),
            Err(detail) => unknown(detail),
        }
    }
}

fn unknown(detail: impl Into<String>) -> Outcome {
    Outcome::Unknown {
        detail: detail.into(),
    }
}

/// Why a request got no answer, without its URL (which may carry a credential).
fn request_failure(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "the check timed out"
    } else if error.is_connect() {
        "the check's endpoint is unreachable"
    } else {
        "the check's request failed"
    }
}

/// Fails when any series' value meets the failure condition; passes otherwise.
fn judge(check: &PrometheusCheck, values: &[f64]) -> Outcome {
    if values.iter().any(|v| v.is_nan()) {
        return unknown("the query's value is NaN");
    }
    match values
        .iter()
        .find(|v| check.fail_when.holds(**v, check.threshold))
    {
        Some(bad) => Outcome::Fail {
            observed: json!(bad),
        },
        None => Outcome::Pass {
            observed: json!(values.first()),
        },
    }
}

/// `GET /api/v1/query`'s answer.
#[derive(Debug, Deserialize)]
struct PromAnswer {
    status: String,
    #[serde(default)]
    data: Option<PromData>,
}

#[derive(Debug, Deserialize)]
struct PromData {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Value,
}

impl PromAnswer {
    /// The values of a vector (one per series) or a scalar; no series is an unknown, not a
    /// pass: a query that matches nothing says nothing about errors.
    fn values(&self) -> Result<Vec<f64>, &'static str> {
        let data = match (&self.status[..], &self.data) {
            ("success", Some(data)) => data,
            _ => return Err("Prometheus reported an error for the query"),
        };
        let sample = |pair: &Value| -> Option<f64> { pair.get(1)?.as_str()?.parse::<f64>().ok() };
        let values: Option<Vec<f64>> = match &data.result_type[..] {
            "vector" => data.result.as_array().map(|series| {
                series
                    .iter()
                    .filter_map(|s| s.get("value").and_then(sample))
                    .collect()
            }),
            "scalar" => sample(&data.result).map(|v| vec![v]),
            _ => return Err("the query must give an instant vector or a scalar"),
        };
        match values {
            Some(values) if !values.is_empty() => Ok(values),
            _ => Err("the query returned no data"),
        }
    }
}

/// A guard description for the audit trail: its name and kind, never its query or URL.
pub fn describe(guards: &[super::model::GuardBody]) -> Value {
    guards
        .iter()
        .map(|g| {
            let kind = if g.prometheus.is_some() {
                "prometheus"
            } else {
                "http"
            };
            json!({ "name": g.name, "kind": kind })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::model::Comparison;

    fn answer(value: Value) -> PromAnswer {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_vector_fails_when_any_series_crosses_the_threshold() {
        let check = PrometheusCheck {
            query: "x".into(),
            fail_when: Comparison::Above,
            threshold: 0.02,
        };
        let values = answer(
            json!({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"a": "1"}, "value": [1.0, "0.01"]},
            {"metric": {"a": "2"}, "value": [1.0, "0.05"]}]}}),
        )
        .values()
        .unwrap();
        assert_eq!(
            judge(&check, &values),
            Outcome::Fail {
                observed: json!(0.05)
            }
        );
        let empty =
            answer(json!({"status": "success", "data": {"resultType": "vector", "result": []}}));
        assert!(empty.values().is_err(), "no data is unknown, never a pass");
        let nan = answer(
            json!({"status": "success", "data": {"resultType": "scalar", "result": [1.0, "NaN"]}}),
        );
        assert!(matches!(
            judge(&check, &nan.values().unwrap()),
            Outcome::Unknown { .. }
        ));
    }
}
