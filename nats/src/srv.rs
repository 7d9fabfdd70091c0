//! The NATS services protocol (ADR-32): every instance answers `$SRV.PING`,
//! `$SRV.INFO` and `$SRV.STATS`, for all services, by name and by name and
//! id, so `nats micro ls`, `info` and `stats` list and measure it.
//!
//! async-nats has this protocol, but its replies to failed requests carry an
//! empty body, where dotrpc's carry the error object; so the verbs are
//! answered here, from the same counts the replies update. Each method of
//! the API is an endpoint (its subject, and its params and result in the
//! endpoint's metadata); the service's metadata carries the whole
//! description, as `rpc.describe` returns it, under `dotrpc.describe`. The
//! replies follow the protocol's schema exactly (tests/nats.rs reads them
//! with async-nats's own types).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_nats::{Client, Subscriber};
use futures_util::StreamExt;
use futures_util::stream::select_all;
use serde_json::{Value as Json, json};
use tokio_util::sync::CancellationToken;

use super::service::Service;
use super::subject;
use dotrpc::router::Router;
use dotrpc::schema::Description;

/// Who the service is.
#[derive(Debug)]
pub(crate) struct Identity {
    pub(crate) name: String,
    pub(crate) id: String,
    pub(crate) version: String,
    pub(crate) description: String,
    pub(crate) queue_group: String,
    /// When the instance started, RFC 3339.
    pub(crate) started: String,
}

/// The subjects answered: each verb for all services, by name, by name
/// and id.
fn subjects(identity: &Identity) -> Vec<String> {
    ["PING", "INFO", "STATS"]
        .iter()
        .flat_map(|verb| {
            [
                format!("$SRV.{verb}"),
                format!("$SRV.{verb}.{}", identity.name),
                format!("$SRV.{verb}.{}.{}", identity.name, identity.id),
            ]
        })
        .collect()
}

/// Subscribes to the verbs' subjects.
pub(crate) async fn subscribe(
    client: &Client,
    identity: &Identity,
) -> Result<Vec<Subscriber>, async_nats::SubscribeError> {
    let mut subscribers = Vec::new();
    for subject in subjects(identity) {
        subscribers.push(client.subscribe(subject).await?);
    }
    Ok(subscribers)
}

/// What answers the verbs.
pub(crate) struct Responder {
    pub(crate) client: Client,
    pub(crate) identity: Identity,
    pub(crate) service: Arc<Service>,
    pub(crate) router: Arc<Router>,
}

impl Responder {
    /// Answers until `stop` fires.
    pub(crate) async fn run(self, subscribers: Vec<Subscriber>, stop: CancellationToken) {
        let mut requests = select_all(subscribers);
        loop {
            let request = tokio::select! {
                () = stop.cancelled() => return,
                request = requests.next() => request,
            };
            let Some(request) = request else { return };
            let Some(reply) = request.reply else { continue };
            let answer = match request.subject.split('.').nth(1) {
                Some("PING") => self.ping(),
                Some("INFO") => self.info(),
                Some("STATS") => self.stats(),
                _ => continue,
            };
            let body = serde_json::to_vec(&answer).expect("JSON values serialize");
            if let Err(error) = self.client.publish(reply, body.into()).await {
                tracing::warn!(%error, "answering $SRV failed");
            }
        }
    }

    /// The fields every verb's answer starts with.
    fn head(&self, kind: &str) -> serde_json::Map<String, Json> {
        let identity = &self.identity;
        [
            ("type", json!(format!("io.nats.micro.v1.{kind}_response"))),
            ("name", json!(identity.name)),
            ("id", json!(identity.id)),
            ("version", json!(identity.version)),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
    }

    fn metadata(&self, description: &Description) -> Json {
        json!({
            "dotrpc.prefix": &*self.service.prefix,
            "dotrpc.describe": serde_json::to_string(description).expect("descriptions serialize"),
        })
    }

    fn ping(&self) -> Json {
        let mut answer = self.head("ping");
        answer.insert("metadata".into(), self.metadata(&self.router.description()));
        Json::Object(answer)
    }

    fn info(&self) -> Json {
        let description = self.router.description();
        let endpoints: Vec<Json> = description
            .methods
            .iter()
            .map(|method| {
                let params: Vec<String> = method
                    .params
                    .iter()
                    .map(|param| format!("{}: {}", param.name, param.ty))
                    .collect();
                let mut metadata = json!({
                    "params": params.join(", "),
                    "returns": method.returns,
                    "event": method.event.to_string(),
                });
                if let Some(error) = &method.error {
                    metadata["error"] = json!(error);
                }
                if !method.docs.is_empty() {
                    metadata["docs"] = json!(method.docs);
                }
                self.endpoint(&method.path, metadata)
            })
            .collect();
        let mut answer = self.head("info");
        answer.insert("description".into(), json!(self.identity.description));
        answer.insert("metadata".into(), self.metadata(&description));
        answer.insert("endpoints".into(), Json::Array(endpoints));
        Json::Object(answer)
    }

    fn endpoint(&self, path: &str, metadata: Json) -> Json {
        json!({
            "name": path,
            "subject": subject::subject(&self.service.prefix, path),
            "queue_group": self.identity.queue_group,
            "metadata": metadata,
        })
    }

    fn stats(&self) -> Json {
        // Every method described, and every path called (runtime handlers).
        let mut paths: BTreeMap<String, _> = self
            .router
            .descriptions()
            .into_iter()
            .map(|method| (method.path, Default::default()))
            .collect();
        paths.extend(self.service.stats());
        let endpoints: Vec<Json> = paths
            .into_iter()
            .map(|(path, stats): (String, super::service::PathStats)| {
                let total = stats.processing.as_nanos();
                let average = total.checked_div(u128::from(stats.requests)).unwrap_or(0);
                json!({
                    "name": path,
                    "subject": subject::subject(&self.service.prefix, &path),
                    "queue_group": self.identity.queue_group,
                    "num_requests": stats.requests,
                    "num_errors": stats.errors,
                    "last_error": stats.last_error,
                    "processing_time": total as u64,
                    "average_processing_time": average as u64,
                })
            })
            .collect();
        let mut answer = self.head("stats");
        answer.insert("started".into(), json!(self.identity.started));
        answer.insert("endpoints".into(), Json::Array(endpoints));
        Json::Object(answer)
    }
}

/// Now, in RFC 3339 (UTC, milliseconds).
pub(crate) fn now_rfc3339() -> String {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since_epoch.as_secs();
    let (days, day_secs) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        day_secs / 3600,
        day_secs % 3600 / 60,
        day_secs % 60,
        since_epoch.subsec_millis()
    )
}

/// The date `days` after 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_come_from_days_since_the_epoch() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_787), (2026, 11, 30));
    }

    #[test]
    fn every_verb_is_answered_for_all_by_name_and_by_id() {
        let identity = Identity {
            name: "demo".into(),
            id: "X1".into(),
            version: "1.0.0".into(),
            description: String::new(),
            queue_group: "demo".into(),
            started: now_rfc3339(),
        };
        let subjects = subjects(&identity);
        assert_eq!(subjects.len(), 9);
        assert!(subjects.contains(&"$SRV.INFO.demo.X1".to_owned()));
        assert!(subjects.contains(&"$SRV.PING".to_owned()));
    }
}
