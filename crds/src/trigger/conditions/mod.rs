//! A trigger's `conditions`: which firings start a Task. The shape is AgentArea's, so a trigger
//! written for AgentArea filters the same here:
//!
//! ```json
//! {"type": "rule", "logic": "AND", "rules": [{"field": "payload.action", "operator": "eq", "value": "opened"}]}
//! {"type": "llm", "description": "The issue reports a bug", "context_fields": ["payload.issue.title"]}
//! {"type": "combined", "logic": "OR", "conditions": [ ...conditions... ]}
//! ```
//!
//! `{}` (or no conditions) matches every firing. Without `type`, the keys say which it is
//! (`rules`, `conditions`, else a natural-language `description`). Fields are dotted paths into
//! the firing's context, the same the input template reads (`payload.x`, `event.x`,
//! `webhook.event`, `schedule.time`), so a path that renders in the input is one a rule can test.
//!
//! Deciding is pure: [`evaluate`] takes the natural-language conditions' [`Judgement`]s, which the
//! caller got from a model beforehand (in [`llm_conditions`] order, with [`prompt`] and
//! [`parse_judgement`]), so the rules and their combinations are table-tested here without one.

mod evaluate;
mod parse;
mod prompt;
mod types;

pub use evaluate::{evaluate, llm_conditions};
pub use parse::parse;
pub use prompt::{parse_judgement, prompt};
pub use types::{
    Condition, Decision, Judgement, LlmCondition, Logic, NO_CONDITIONS, Operator, Rule,
};

#[cfg(test)]
mod tests;
