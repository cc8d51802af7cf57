//! The parts of a parsed `conditions` value and of a decision, which parsing, evaluating and
//! prompting all use.

use serde_json::Value;

/// A parsed `conditions` value.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `{}`: every firing matches.
    Always,
    Rules {
        rules: Vec<Rule>,
        logic: Logic,
    },
    Llm(LlmCondition),
    Combined {
        conditions: Vec<Condition>,
        logic: Logic,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Logic {
    And,
    Or,
}

/// `{field, operator, value}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub field: String,
    pub operator: Operator,
    pub value: Value,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Operator {
    Eq,
    Ne,
    Gt,
    Lt,
    Gte,
    Lte,
    Contains,
    NotContains,
    Exists,
    NotExists,
}

pub(crate) const OPERATORS: [(&str, Operator); 10] = [
    ("eq", Operator::Eq),
    ("ne", Operator::Ne),
    ("gt", Operator::Gt),
    ("lt", Operator::Lt),
    ("gte", Operator::Gte),
    ("lte", Operator::Lte),
    ("contains", Operator::Contains),
    ("not_contains", Operator::NotContains),
    ("exists", Operator::Exists),
    ("not_exists", Operator::NotExists),
];

impl Operator {
    pub(crate) fn name(self) -> &'static str {
        OPERATORS
            .iter()
            .find(|(_, op)| *op == self)
            .map_or("?", |(name, _)| name)
    }
}

/// A condition in words, judged by a model.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmCondition {
    pub description: String,
    /// Paths whose values the model is shown apart, as the relevant context.
    pub context_fields: Vec<String>,
    /// `{input, expected}` examples, shown to the model as given.
    pub examples: Vec<Value>,
}

/// A model's answer to one natural-language condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    pub matched: bool,
    pub reason: String,
}

/// The reason of a decision when there were no conditions to decide by.
pub const NO_CONDITIONS: &str = "no conditions";

/// Whether a firing starts a Task, and why: the reason is what a skipped execution records.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub matched: bool,
    pub reason: String,
}
