//! What a firing is and the Task it creates: the one definition the api (webhooks) and the
//! operator (schedules, events) share.

use std::collections::BTreeMap;

use kube::api::ObjectMeta;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde_json::{Value, json};

use super::conditions;
use super::spec::{Trigger, WebhookType};
use crate::common::{
    AGENT_LABEL, CREATED_AT_ANNOTATION, TRIGGER_DECISION_ANNOTATION, TRIGGER_LABEL,
};
use crate::task::{Requester, Task, TaskSpec};

/// What a firing is: which kind of trigger fired, and the data it fired on.
pub enum Firing {
    /// A scheduled run, due at `scheduled_time`.
    Schedule { scheduled_time: String },
    /// A verified webhook request, its body, and what its sender says it is.
    Webhook { payload: Value, delivery: Delivery },
    /// A watched object that matched the filter, as it was when it matched.
    Event { event: Value },
}

/// What a webhook's sender says a verified delivery is: its id for the delivery
/// (`X-GitHub-Delivery`, a Stripe event's `id`, Slack's `event_id`, Telegram's `update_id`, a
/// Discord interaction's `id`) and its event type (`X-GitHub-Event`, Stripe's `type`, ...).
/// Either may be absent: a generic sender names neither.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Delivery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
}

impl Firing {
    fn type_name(&self) -> &'static str {
        match self {
            Self::Schedule { .. } => "schedule",
            Self::Webhook { .. } => "webhook",
            Self::Event { .. } => "event",
        }
    }

    /// The key of the context its data is under.
    fn data_key(&self) -> &'static str {
        match self {
            Self::Schedule { .. } => "schedule",
            Self::Webhook { .. } => "payload",
            Self::Event { .. } => "event",
        }
    }
}

impl Trigger {
    /// The Task one firing creates; the one definition the api (webhooks) and the operator
    /// (schedules, events) share. The input is `spec.input` rendered with `trigger`, `time` and
    /// `payload` or `event`; the parameters are the trigger's plus AgentArea's `trigger_*` fields.
    /// The Task is owned by the trigger (deleting the trigger deletes its history, as with a
    /// CronJob) and labelled with its agent and trigger.
    ///
    /// `name` is exact when given: the operator names scheduled and event Tasks after what they
    /// fire for, so that two replicas firing the same run collide on the name instead of running
    /// it twice. Without it the apiserver generates one from the trigger's name.
    /// The name of the Task a firing that `key` identifies starts: `<trigger>-<12 hex of the
    /// trigger and key>`. The same firing (an event's transition, a sender's delivery) always
    /// names the same Task, so seeing it again, on any replica and after any restart, is the
    /// apiserver's `AlreadyExists`, never a second run.
    pub fn task_name_for(&self, key: &str) -> String {
        use sha2::{Digest, Sha256};
        let trigger = self.name_any();
        let digest = hex::encode(Sha256::digest(format!("{trigger}/{key}").as_bytes()));
        let prefix: String = trigger.chars().take(50).collect();
        format!("{}-{}", prefix.trim_end_matches('-'), &digest[..12])
    }

    pub fn firing_task(&self, firing: &Firing, now: &str, name: Option<String>) -> Task {
        let context = self.firing_context(firing, now);
        let data_key = firing.data_key();
        let input = match &self.spec.input {
            Some(template) => crate::template::render(template, &context),
            None => format!(
                "{} trigger {} fired: {}",
                firing.type_name(),
                self.name_any(),
                context[data_key]
            ),
        };
        let mut parameters = self.spec.parameters.clone().unwrap_or_else(|| json!({}));
        if let Some(object) = parameters.as_object_mut() {
            object.insert("trigger_id".into(), json!(self.uid()));
            object.insert("trigger_type".into(), json!(firing.type_name()));
            object.insert("trigger_name".into(), json!(self.name_any()));
            object.insert("execution_time".into(), json!(now));
            object.insert("trigger_data".into(), context[data_key].clone());
        }
        let prefix: String = self.name_any().chars().take(50).collect();
        Task {
            metadata: ObjectMeta {
                generate_name: name.is_none().then(|| format!("{prefix}-")),
                name,
                namespace: self.namespace(),
                annotations: Some(BTreeMap::from([(
                    CREATED_AT_ANNOTATION.to_string(),
                    now.to_string(),
                )])),
                labels: Some(BTreeMap::from([
                    (AGENT_LABEL.to_string(), self.spec.agent.clone()),
                    (TRIGGER_LABEL.to_string(), self.name_any()),
                ])),
                owner_references: self.controller_owner_ref(&()).map(|owner| vec![owner]),
                ..ObjectMeta::default()
            },
            spec: TaskSpec {
                agent: self.spec.agent.clone(),
                input: truncate_input(input),
                parameters: Some(parameters),
                requested_by: Some(Requester {
                    user: None,
                    trigger: Some(self.name_any()),
                }),
                ..TaskSpec::default()
            },
            status: None,
        }
    }

    /// [`Self::firing_task`] for a firing its conditions let through: the Task carries why
    /// (`agentarea.io/trigger-decision`), which the trigger's record of the firing shows.
    pub fn decided_task(
        &self,
        firing: &Firing,
        now: &str,
        name: Option<String>,
        decision: &conditions::Decision,
    ) -> Task {
        let mut task = self.firing_task(firing, now, name);
        if decision.reason != conditions::NO_CONDITIONS {
            let reason: String = decision.reason.chars().take(1000).collect();
            task.annotations_mut()
                .insert(TRIGGER_DECISION_ANNOTATION.to_string(), reason);
        }
        task
    }

    /// What a firing's input template and conditions read: `trigger` (`name`, `id`, `type`),
    /// `time`, and `schedule.time`, `payload` with `webhook` (`type`, `event`, `delivery`: the
    /// sender's event type and delivery id), or `event`.
    pub fn firing_context(&self, firing: &Firing, now: &str) -> Value {
        let mut context = json!({
            "trigger": { "name": self.name_any(), "id": self.uid(), "type": firing.type_name() },
            "time": now,
        });
        let data = match firing {
            Firing::Schedule { scheduled_time } => json!({ "time": scheduled_time }),
            Firing::Webhook { payload, delivery } => {
                let kind = self.spec.webhook.as_ref().map(|w| w.webhook_type);
                context["webhook"] = json!({
                    "type": kind.map(WebhookType::name),
                    "event": delivery.event,
                    "delivery": delivery.id,
                });
                payload.clone()
            }
            Firing::Event { event } => event.clone(),
        };
        context[firing.data_key()] = data;
        context
    }

    /// `schedule`, `webhook` or `event`.
    pub fn type_name(&self) -> &'static str {
        match (&self.spec.schedule, &self.spec.webhook) {
            (Some(_), _) => "schedule",
            (None, Some(_)) => "webhook",
            (None, None) => "event",
        }
    }
}

/// The Task schema caps `input` at 256 KiB; a payload rendered larger is cut, not refused, so
/// that a big webhook body still starts the agent.
fn truncate_input(mut input: String) -> String {
    const MAX: usize = 262_144;
    if input.len() > MAX {
        let mut end = MAX - 16;
        while !input.is_char_boundary(end) {
            end -= 1;
        }
        input.truncate(end);
        input.push_str(" [truncated]");
    }
    input
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trigger::TriggerSpec;

    #[test]
    fn the_same_firing_names_the_same_task() {
        let trigger = |name: &str| Trigger::new(name, TriggerSpec::default());
        let a = trigger("on-done").task_name_for("uid-1/Succeeded");
        assert_eq!(a, trigger("on-done").task_name_for("uid-1/Succeeded"));
        assert_ne!(a, trigger("on-done").task_name_for("uid-2/Succeeded"));
        assert_ne!(a, trigger("other").task_name_for("uid-1/Succeeded"));
        assert!(a.starts_with("on-done-") && a.len() == "on-done-".len() + 12);
        let long = trigger(&"x".repeat(63)).task_name_for("k");
        assert!(long.len() <= 63, "a valid name: {long}");
    }
}
