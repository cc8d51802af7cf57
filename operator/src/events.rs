//! Kubernetes Events about the objects the operator reconciles (`kubectl describe` shows them).
//!
//! An event that repeats (the same object, reason, type and note) within [`SERIES_WINDOW`] does
//! not make a new Event object: the one already written counts it in its `series`, as the
//! events.k8s.io API intends. To know which Event to count on, the recorder remembers each event
//! it wrote in a few dozen bytes ([`Seen`]). kube-runtime's `Recorder` keeps a whole Event per
//! key instead, and sweeps all of them on every publish; with ten thousand objects that was a
//! good part of the operator's memory and a sweep of ten thousand entries per event.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::events::EventType;
use kube::{Api, Client};

/// How long after an event's last occurrence a repeat still counts on the same Event object
/// (client-go and kube-runtime use the same). The apiserver keeps Events for an hour.
pub const SERIES_WINDOW: Duration = Duration::from_secs(6 * 60);
/// How often expired entries are swept out, at most.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// The action of every Event the operator publishes (events.k8s.io requires one).
const ACTION: &str = "Reconcile";

/// Publishes Events, counting repeats on the Event they repeat.
pub struct Recorder {
    client: Client,
    controller: String,
    instance: String,
    seen: Mutex<SeenEvents>,
}

/// One event the operator means to publish about `regarding`.
pub struct Occurrence<'a> {
    pub regarding: ObjectReference,
    pub type_: EventType,
    pub reason: &'a str,
    pub note: &'a str,
}

impl Recorder {
    pub fn new(client: Client, controller: &str, instance: &str) -> Self {
        Self {
            client,
            controller: controller.to_string(),
            instance: instance.to_string(),
            seen: Mutex::new(SeenEvents::default()),
        }
    }

    /// Writes `occurrence`: a new Event, or one more in the series of the Event it repeats.
    pub async fn publish(&self, occurrence: &Occurrence<'_>) -> kube::Result<()> {
        let namespace = occurrence
            .regarding
            .namespace
            .as_deref()
            .unwrap_or("default");
        let events = Api::<Event>::namespaced(self.client.clone(), namespace);
        let key = SeriesKey::of(occurrence);
        let next = self.seen.lock().unwrap().next(key, Instant::now());
        let now = MicroTime(Timestamp::now());
        let name = match next {
            Publish::Count { name, count } => {
                let series = serde_json::json!({
                    "series": EventSeries { count, last_observed_time: now.clone() },
                });
                match events
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&series))
                    .await
                {
                    Ok(_) => name,
                    // Deleted (or expired) meanwhile: the occurrence starts a new Event.
                    Err(kube::Error::Api(status)) if status.code == 404 => {
                        self.create(&events, occurrence, now).await?
                    }
                    Err(error) => return Err(error),
                }
            }
            Publish::Create => self.create(&events, occurrence, now).await?,
        };
        self.seen.lock().unwrap().written(key, name, Instant::now());
        Ok(())
    }

    async fn create(
        &self,
        events: &Api<Event>,
        occurrence: &Occurrence<'_>,
        now: MicroTime,
    ) -> kube::Result<String> {
        let event = self.event(occurrence, now);
        let created = events.create(&PostParams::default(), &event).await?;
        Ok(created.metadata.name.unwrap_or_default())
    }

    fn event(&self, occurrence: &Occurrence<'_>, now: MicroTime) -> Event {
        let regarding = &occurrence.regarding;
        let object = regarding.name.as_deref().unwrap_or(&self.controller);
        Event {
            metadata: ObjectMeta {
                // Unique per occurrence, and readable: `<object>.<nanoseconds>`, as client-go.
                name: Some(format!("{object}.{:x}", now.0.as_nanosecond())),
                namespace: regarding.namespace.clone(),
                ..ObjectMeta::default()
            },
            event_time: Some(now),
            action: Some(ACTION.to_string()),
            reason: Some(occurrence.reason.to_string()),
            note: Some(occurrence.note.to_string()),
            type_: Some(
                match occurrence.type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .to_string(),
            ),
            regarding: Some(regarding.clone()),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            ..Event::default()
        }
    }
}

/// What makes two occurrences the same event: the object (by uid, so that an object made again
/// under the same name starts afresh), the type, the reason and the note, as a digest. Two
/// occurrences whose digests collide would share a series; with 64 bits, among the events of six
/// minutes, that is not a case to design for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct SeriesKey(u64);

impl SeriesKey {
    fn of(occurrence: &Occurrence<'_>) -> Self {
        let regarding = &occurrence.regarding;
        let mut hasher = DefaultHasher::new();
        (
            &regarding.uid,
            &regarding.kind,
            &regarding.namespace,
            &regarding.name,
            matches!(occurrence.type_, EventType::Warning),
            occurrence.reason,
            occurrence.note,
        )
            .hash(&mut hasher);
        Self(hasher.finish())
    }
}

/// What to write for an occurrence.
#[derive(Debug, PartialEq, Eq)]
enum Publish {
    /// A new Event.
    Create,
    /// The `count`th occurrence of the Event `name`.
    Count { name: String, count: i32 },
}

/// An Event written, as much of it as counting a repeat needs.
#[derive(Debug)]
struct Seen {
    name: String,
    count: i32,
    last: Instant,
}

/// The Events written in the last [`SERIES_WINDOW`], by what they are about.
#[derive(Debug, Default)]
struct SeenEvents {
    by_key: HashMap<SeriesKey, Seen>,
    swept: Option<Instant>,
}

impl SeenEvents {
    /// What to write for an occurrence of `key` at `now`.
    fn next(&mut self, key: SeriesKey, now: Instant) -> Publish {
        self.sweep(now);
        match self.by_key.get(&key) {
            Some(seen) if now.duration_since(seen.last) < SERIES_WINDOW => Publish::Count {
                name: seen.name.clone(),
                count: seen.count.saturating_add(1),
            },
            _ => Publish::Create,
        }
    }

    /// Notes that the occurrence of `key` at `now` was written as (or counted on) Event `name`.
    fn written(&mut self, key: SeriesKey, name: String, now: Instant) {
        let seen = self.by_key.entry(key).or_insert(Seen {
            name: String::new(),
            count: 0,
            last: now,
        });
        if seen.name == name && now.duration_since(seen.last) < SERIES_WINDOW {
            seen.count = seen.count.saturating_add(1);
        } else {
            seen.name = name;
            seen.count = 1;
        }
        seen.last = now;
    }

    /// Forgets Events whose window has passed; at most every [`SWEEP_EVERY`], since a sweep
    /// visits every entry.
    fn sweep(&mut self, now: Instant) {
        if self
            .swept
            .is_some_and(|swept| now.duration_since(swept) < SWEEP_EVERY)
        {
            return;
        }
        self.swept = Some(now);
        self.by_key
            .retain(|_, seen| now.duration_since(seen.last) < SERIES_WINDOW);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn occurrence<'a>(uid: &str, reason: &'a str, note: &'a str) -> Occurrence<'a> {
        Occurrence {
            regarding: ObjectReference {
                kind: Some("Agent".into()),
                namespace: Some("ws-a".into()),
                name: Some("helper".into()),
                uid: Some(uid.into()),
                ..ObjectReference::default()
            },
            type_: EventType::Warning,
            reason,
            note,
        }
    }

    #[test]
    fn the_same_event_is_the_same_key_and_anything_else_is_another() {
        let key = |o: &Occurrence| SeriesKey::of(o);
        let first = key(&occurrence("u1", "ModelUnreachable", "refused"));
        assert_eq!(first, key(&occurrence("u1", "ModelUnreachable", "refused")));
        let others = [
            occurrence("u2", "ModelUnreachable", "refused"),
            occurrence("u1", "ToolsResolved", "refused"),
            occurrence("u1", "ModelUnreachable", "timed out"),
            Occurrence {
                type_: EventType::Normal,
                ..occurrence("u1", "ModelUnreachable", "refused")
            },
        ];
        for other in &others {
            assert_ne!(first, key(other), "{} {}", other.reason, other.note);
        }
    }

    #[test]
    fn repeats_within_the_window_count_on_the_event_they_repeat() {
        let start = Instant::now();
        let at = |seconds: u64| start + Duration::from_secs(seconds);
        let (a, b) = (SeriesKey(1), SeriesKey(2));
        let mut seen = SeenEvents::default();
        let count = |n: i32| Publish::Count {
            name: "helper.1".into(),
            count: n,
        };
        // (key, at, what to write, the name it was written as)
        let steps: [(SeriesKey, u64, Publish, &str); 6] = [
            (a, 0, Publish::Create, "helper.1"),
            (a, 10, count(2), "helper.1"),
            (b, 20, Publish::Create, "helper.2"),
            (a, 300, count(3), "helper.1"),
            // Six minutes after the last occurrence: a new Event, counted from one again.
            (
                a,
                300 + SERIES_WINDOW.as_secs(),
                Publish::Create,
                "helper.3",
            ),
            (
                a,
                301 + SERIES_WINDOW.as_secs(),
                Publish::Count {
                    name: "helper.3".into(),
                    count: 2,
                },
                "helper.3",
            ),
        ];
        for (key, seconds, expected, name) in steps {
            assert_eq!(
                seen.next(key, at(seconds)),
                expected,
                "{key:?} at {seconds}s"
            );
            seen.written(key, name.to_string(), at(seconds));
        }
    }

    #[test]
    fn an_event_counted_on_a_new_event_starts_its_count_again() {
        // The Event counted on was gone (404), so the occurrence was written as a new one.
        let now = Instant::now();
        let mut seen = SeenEvents::default();
        seen.written(SeriesKey(1), "helper.1".into(), now);
        seen.written(SeriesKey(1), "helper.1".into(), now);
        seen.written(SeriesKey(1), "helper.2".into(), now);
        assert_eq!(
            seen.next(SeriesKey(1), now),
            Publish::Count {
                name: "helper.2".into(),
                count: 2
            }
        );
    }

    #[test]
    fn expired_entries_are_swept_at_most_once_a_minute() {
        let start = Instant::now();
        let mut seen = SeenEvents::default();
        seen.next(SeriesKey(9), start);
        seen.written(SeriesKey(1), "old".into(), start);
        let expired = start + SERIES_WINDOW + Duration::from_secs(1);
        seen.written(SeriesKey(2), "new".into(), expired);
        // Swept at `start`, so not again until a minute later.
        seen.sweep(start + Duration::from_secs(30));
        assert_eq!(seen.by_key.len(), 2);
        seen.sweep(expired);
        assert_eq!(seen.by_key.len(), 1);
        assert!(seen.by_key.contains_key(&SeriesKey(2)));
    }
}
