//! Alertmanager webhook notifications (payload version 4): parsing, and the post for one
//! notification. No host calls here.

use crate::open::OpenAlert;
use crate::text::{clip, fit, parse_time, show_duration, show_time_str};
use chatops_sdk::serde::Deserialize;
use chatops_sdk::serde_json;
use std::collections::BTreeMap;

pub type Labels = BTreeMap<String, String>;

/// One webhook notification: a group of alerts that changed.
#[derive(Debug, Deserialize)]
#[serde(crate = "chatops_sdk::serde")]
pub struct Notification {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub alerts: Vec<Alert>,
    #[serde(default, rename = "groupLabels")]
    pub group_labels: Labels,
    #[serde(default, rename = "externalURL")]
    pub external_url: String,
    /// Alerts Alertmanager left out because of the receiver's `max_alerts`.
    #[serde(default, rename = "truncatedAlerts")]
    pub truncated_alerts: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(crate = "chatops_sdk::serde")]
pub struct Alert {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub annotations: Labels,
    #[serde(default, rename = "startsAt")]
    pub starts_at: String,
    #[serde(default, rename = "endsAt")]
    pub ends_at: String,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
    #[serde(default)]
    pub fingerprint: String,
}

impl Alert {
    pub fn firing(&self) -> bool {
        self.status != "resolved"
    }
    pub fn name(&self) -> &str {
        self.labels
            .get("alertname")
            .map(String::as_str)
            .unwrap_or("(unnamed alert)")
    }
    /// What to keep in kv while it is open.
    pub fn to_open(&self) -> OpenAlert {
        OpenAlert {
            labels: self.labels.clone(),
            annotations: self.annotations.clone(),
            starts_at: self.starts_at.clone(),
            generator_url: self.generator_url.clone(),
            acked_by: None,
            acked_at: None,
        }
    }
}

/// Parse a webhook body; anything but version "4" is refused.
pub fn parse(body: &[u8]) -> Result<Notification, String> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| format!("the body is not an Alertmanager notification (not JSON: {e})"))?;
    match value.get("version").and_then(|v| v.as_str()) {
        Some("4") => {}
        Some(v) => {
            return Err(format!(
                "Alertmanager webhook version `{v}` is not supported (only version 4)"
            ))
        }
        None => return Err("the body is not an Alertmanager notification (no `version`)".into()),
    }
    serde_json::from_value(value)
        .map_err(|e| format!("the Alertmanager notification is malformed: {e}"))
}

/// `🔥 FIRING` / `✅ RESOLVED`.
pub fn marker(firing: bool) -> &'static str {
    if firing {
        "🔥 FIRING"
    } else {
        "✅ RESOLVED"
    }
}

/// The post for one notification. `acks` holds who acked alerts that are still open, by
/// fingerprint, so a repeat notification says so.
pub fn format(n: &Notification, acks: &BTreeMap<String, String>) -> String {
    let firing = n.alerts.iter().filter(|a| a.firing()).count();
    let resolved = n.alerts.len() - firing;
    let group = if n.group_labels.is_empty() {
        n.alerts
            .first()
            .map(|a| a.name().to_string())
            .unwrap_or_else(|| "alerts".into())
    } else if n.group_labels.len() == 1 && n.group_labels.contains_key("alertname") {
        n.group_labels["alertname"].clone()
    } else {
        labels_inline(&n.group_labels)
    };
    let mut counts = Vec::new();
    if firing > 0 {
        counts.push(format!("{firing} firing"));
    }
    if resolved > 0 {
        counts.push(format!("{resolved} resolved"));
    }
    let icon = if firing > 0 { "🔥" } else { "✅" };
    let mut header = format!("{icon} **{}** · {}", clip(&group, 100), counts.join(", "));
    if !n.external_url.is_empty() {
        header.push_str(&format!(" · [Alertmanager](<{}>)", n.external_url));
    }
    // Firing first: they are what someone has to act on.
    let mut alerts: Vec<&Alert> = n.alerts.iter().collect();
    alerts.sort_by_key(|a| !a.firing());
    let items: Vec<String> = alerts
        .iter()
        .map(|a| alert_block(a, acks.get(&a.fingerprint).map(String::as_str)))
        .collect();
    fit(&header, &items, n.truncated_alerts)
}

/// Several lines about one alert.
fn alert_block(a: &Alert, acked: Option<&str>) -> String {
    let mut out = format!("{} **{}**", marker(a.firing()), clip(a.name(), 100));
    if let Some(sev) = a.labels.get("severity") {
        out.push_str(&format!(" ({})", clip(sev, 30)));
    }
    if !a.fingerprint.is_empty() {
        out.push_str(&format!(" `{}`", a.fingerprint));
    }
    let other: Labels = a
        .labels
        .iter()
        .filter(|(k, _)| *k != "alertname" && *k != "severity")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !other.is_empty() {
        out.push_str(&format!("\n   `{}`", clip(&labels_inline(&other), 200)));
    }
    for key in ["summary", "description"] {
        if let Some(text) = a.annotations.get(key).filter(|t| !t.trim().is_empty()) {
            out.push_str(&format!("\n   {}", clip(&text.replace('\n', " "), 300)));
        }
    }
    let mut when = if a.firing() {
        format!("since {}", show_time_str(&a.starts_at))
    } else {
        let lasted = match (parse_time(&a.starts_at), parse_time(&a.ends_at)) {
            (Some(s), Some(e)) => e
                .duration_since(s)
                .ok()
                .filter(|d| d.as_secs() > 0)
                .map(|d| format!(" ({})", show_duration(d)))
                .unwrap_or_default(),
            _ => String::new(),
        };
        format!(
            "{} → {}{lasted}",
            show_time_str(&a.starts_at),
            show_time_str(&a.ends_at)
        )
    };
    if !a.generator_url.is_empty() {
        when.push_str(&format!(" · [source](<{}>)", a.generator_url));
    }
    if let Some(who) = acked.filter(|_| a.firing()) {
        when.push_str(&format!(" · 👀 acked by {who}"));
    }
    out.push_str(&format!("\n   {when}"));
    out
}

/// `a="1", b="2"`: how Alertmanager writes label sets and matchers.
pub fn labels_inline(labels: &Labels) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRING: &str = r#"{"receiver":"chatops","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"HighErrorRate","instance":"web-1:9100","service":"checkout","severity":"critical"},"annotations":{"summary":"5xx rate above 5%"},"startsAt":"2026-11-27T04:19:47.802209505Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus.invalid/graph","fingerprint":"ac36b8d065d4a922"}],"groupLabels":{"alertname":"HighErrorRate"},"commonLabels":{"alertname":"HighErrorRate","instance":"web-1:9100","service":"checkout","severity":"critical"},"commonAnnotations":{"summary":"5xx rate above 5%"},"externalURL":"http://127.0.0.1:9093","version":"4","groupKey":"{}:{alertname=\"HighErrorRate\"}","truncatedAlerts":0}"#;

    #[test]
    fn formats_a_firing_alert() {
        let n = parse(FIRING.as_bytes()).unwrap();
        let text = format(&n, &BTreeMap::new());
        assert_eq!(
            text,
            "🔥 **HighErrorRate** · 1 firing · [Alertmanager](<http://127.0.0.1:9093>)\n\
             🔥 FIRING **HighErrorRate** (critical) `ac36b8d065d4a922`\n   \
             `instance=\"web-1:9100\", service=\"checkout\"`\n   \
             5xx rate above 5%\n   \
             since 2026-11-27 04:19 UTC · [source](<http://prometheus.invalid/graph>)"
        );
    }

    #[test]
    fn formats_a_resolved_alert() {
        let body = FIRING
            .replace("\"status\":\"firing\"", "\"status\":\"resolved\"")
            .replace("0001-01-01T00:00:00Z", "2026-11-27T05:20:47Z");
        let n = parse(body.as_bytes()).unwrap();
        let text = format(&n, &BTreeMap::new());
        assert!(
            text.starts_with("✅ **HighErrorRate** · 1 resolved"),
            "{text}"
        );
        assert!(text.contains("✅ RESOLVED **HighErrorRate**"), "{text}");
        assert!(
            text.contains("2026-11-27 04:19 UTC → 2026-11-27 05:20 UTC (1h)"),
            "{text}"
        );
    }

    #[test]
    fn refuses_other_versions() {
        let body = FIRING.replace("\"version\":\"4\"", "\"version\":\"3\"");
        assert!(parse(body.as_bytes()).unwrap_err().contains("version `3`"));
        assert!(parse(b"{}").is_err());
        assert!(parse(b"not json").is_err());
    }
}
