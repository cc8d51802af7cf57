//! Constraints on request values, each declared once. A type here checks its value when the
//! request is read (a 422 whose `detail` names the field, through the extractors' error paths)
//! and states the same rule in the OpenAPI document, so the document cannot promise a value the
//! server refuses, nor the reverse. Use these types for request fields rather than checking a
//! `String` or `usize` by hand and restating the rule in a `#[schema(..)]` attribute.

use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, de};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// The characters a blank text consists of. ASCII only, and the same set as
/// [`NOT_BLANK_PATTERN`]: Unicode's notion of whitespace differs between Rust, ECMA-262 and
/// Python, and the document's readers (schemathesis, generated clients) must agree with us.
const BLANK: [char; 5] = [' ', '\t', '\n', '\r', '\x0c'];

/// The JSON Schema `pattern` of a text that is not blank: somewhere a character not in [`BLANK`].
pub const NOT_BLANK_PATTERN: &str = r"[^ \t\n\r\f]";

/// The rule of a text field: never blank, and at most `max_chars` characters (Unicode scalar
/// values, which is what JSON Schema's `maxLength` counts) when given.
#[derive(Debug, Clone, Copy)]
pub struct TextRule {
    pub max_chars: Option<usize>,
}

impl TextRule {
    /// Why `value` breaks the rule, if it does (the field's name is added by the caller).
    pub fn check(&self, value: &str) -> Result<(), String> {
        if value.chars().all(|c| BLANK.contains(&c)) {
            return Err("must not be empty (or only whitespace)".into());
        }
        match self.max_chars {
            Some(max) if value.chars().count() > max => Err(format!("at most {max} characters")),
            _ => Ok(()),
        }
    }

    pub fn schema(&self) -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(self.max_chars)
            .pattern(Some(NOT_BLANK_PATTERN))
            .into()
    }
}

/// The rule of an integer field: `min..=max`.
#[derive(Debug, Clone, Copy)]
pub struct IntRule {
    pub min: u64,
    pub max: u64,
}

impl IntRule {
    pub fn check(&self, value: u64) -> Result<(), String> {
        if (self.min..=self.max).contains(&value) {
            Ok(())
        } else {
            Err(format!("must be between {} and {}", self.min, self.max))
        }
    }

    pub fn schema(&self) -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(self.min as usize))
            .maximum(Some(self.max as usize))
            .into()
    }
}

/// A text request field under a [`TextRule`]. It reads and writes as a plain JSON string.
macro_rules! checked_text {
    ($(#[$doc:meta])* $name:ident, $rule:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const RULE: TextRule = $rule;

            /// `value`, if it keeps the rule.
            pub fn new(value: impl Into<String>) -> Result<Self, String> {
                let value = value.into();
                Self::RULE.check(&value)?;
                Ok(Self(value))
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                Self::new(String::deserialize(deserializer)?).map_err(de::Error::custom)
            }
        }

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                Self::RULE.schema().into()
            }
        }

        impl ToSchema for $name {}
    };
}

/// An integer request field (a query parameter) under an [`IntRule`].
macro_rules! checked_int {
    ($(#[$doc:meta])* $name:ident, $rule:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
        #[serde(transparent)]
        pub struct $name(u64);

        impl $name {
            pub const RULE: IntRule = $rule;

            /// `value`, if it keeps the rule.
            pub fn new(value: u64) -> Result<Self, String> {
                Self::RULE.check(value)?;
                Ok(Self(value))
            }

            /// The value as an index or a count (the rules keep it within `u32`).
            pub fn get(self) -> usize {
                self.0 as usize
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                Self::new(u64::deserialize(deserializer)?).map_err(de::Error::custom)
            }
        }

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                Self::RULE.schema().into()
            }
        }

        impl ToSchema for $name {}
    };
}

/// The largest offset or page number we take: more than any workspace holds, and small enough
/// for every client's integers.
const MAX_INDEX: u64 = u32::MAX as u64;

checked_text!(
    /// The REST name of an object: not blank, at most 255 characters. It becomes the Kubernetes
    /// name when it is a DNS label, else a slug of it does (see `resources::object_name_for`).
    Name,
    TextRule {
        max_chars: Some(255)
    }
);

checked_text!(
    /// Why a person decided as they did on a tool call: not blank, at most 1,024 characters (as
    /// the Task's `spec.approvals[].reason`).
    Reason,
    TextRule {
        max_chars: Some(1024)
    }
);

checked_text!(
    /// A text that must say something: an agent's instruction or model, a task's description.
    Text,
    TextRule { max_chars: None }
);

checked_int!(
    /// Items per page of a list.
    Limit,
    IntRule { min: 1, max: 1000 }
);

checked_int!(
    /// Items of a list to skip.
    Offset,
    IntRule {
        min: 0,
        max: MAX_INDEX
    }
);

checked_int!(
    /// A 1-based page number.
    PageNumber,
    IntRule {
        min: 1,
        max: MAX_INDEX
    }
);

checked_int!(
    /// Items per page of a list paged by number (a task's stored events, a trigger's executions).
    PageSize,
    IntRule { min: 1, max: 100 }
);

/// The JSON Schema `pattern` of a page cursor (see [`Cursor`]). Anchored at the start only:
/// Python's `$` also matches before a final newline, which the check would then have to allow.
pub const CURSOR_PATTERN: &str = r"^[0-9]{1,18}\.";

/// Where a page of a list ends: the `X-Next-Cursor` of a page, `<created>.<name>` (the sort key
/// of its last item: creation time in microseconds, then object name). Any text of that form is
/// a position in the list, so a cursor needs no secret and the document can describe it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub created: i64,
    pub name: String,
}

impl Cursor {
    pub fn parse(text: &str) -> Result<Self, String> {
        let invalid = || "not a cursor this api issued".to_string();
        let (created, name) = text.split_once('.').ok_or_else(invalid)?;
        // 18 digits always fit an i64.
        if !(1..=18).contains(&created.len()) || !created.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        Ok(Self {
            created: created.parse().map_err(|_| invalid())?,
            name: name.to_string(),
        })
    }

    pub fn encode(&self) -> String {
        format!("{}.{}", self.created.max(0), self.name)
    }
}

impl<'de> Deserialize<'de> for Cursor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(deserializer)?).map_err(de::Error::custom)
    }
}

impl PartialSchema for Cursor {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(CURSOR_PATTERN))
            .into()
    }
}

impl ToSchema for Cursor {}

/// An optional integer body field that also takes a whole number spelled as a float (`5.0`):
/// JSON Schema's `integer` admits it, so the server does too. Use with
/// `#[serde(default, deserialize_with = "crate::constraints::whole_number")]`.
pub fn whole_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i32>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let whole = number.as_i64().or_else(|| {
        number
            .as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 1e18)
            .map(|f| f as i64)
    });
    whole
        .and_then(|n| i32::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| de::Error::custom(format!("{number} is not a whole number within 32 bits")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server's check and the document's pattern agree on every case, including the
    /// whitespace that only Unicode (not ASCII) calls whitespace.
    #[test]
    fn blank_text_is_refused_exactly_where_the_pattern_does_not_match() {
        let pattern = regex::Regex::new(NOT_BLANK_PATTERN).expect("the pattern compiles");
        let cases = [
            ("", false),
            (" ", false),
            ("\t\n\r\x0c ", false),
            ("x", true),
            ("  x  ", true),
            ("\x0b", true),
            ("\u{a0}", true),
            ("\u{2003}", true),
            ("\u{1c}", true),
        ];
        for (value, accepted) in cases {
            assert_eq!(Text::new(value).is_ok(), accepted, "{value:?}");
            assert_eq!(pattern.is_match(value), accepted, "pattern on {value:?}");
        }
    }

    #[test]
    fn text_rules_check_length_in_characters() {
        let cases = [
            ("n".repeat(255), Ok(())),
            ("é".repeat(255), Ok(())),
            ("n".repeat(256), Err("at most 255 characters".to_string())),
            (
                " ".repeat(3),
                Err("must not be empty (or only whitespace)".into()),
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(Name::RULE.check(&value), expected, "{value:?}");
        }
    }

    #[test]
    fn integer_rules_take_their_range_only() {
        let cases = [
            (Limit::RULE, 0, false),
            (Limit::RULE, 1, true),
            (Limit::RULE, 1000, true),
            (Limit::RULE, 1001, false),
            (Offset::RULE, 0, true),
            (Offset::RULE, MAX_INDEX, true),
            (Offset::RULE, MAX_INDEX + 1, false),
            (PageNumber::RULE, 0, false),
            (PageSize::RULE, 100, true),
            (PageSize::RULE, 101, false),
        ];
        for (rule, value, accepted) in cases {
            assert_eq!(rule.check(value).is_ok(), accepted, "{rule:?} {value}");
        }
    }

    /// What the document states is what the rule checks.
    #[test]
    fn schemas_state_the_rules() {
        let schema = |s: RefOr<Schema>| serde_json::to_value(s).unwrap();
        let name = schema(Name::schema());
        assert_eq!(name["minLength"], 1);
        assert_eq!(name["maxLength"], 255);
        assert_eq!(name["pattern"], NOT_BLANK_PATTERN);
        assert!(schema(Text::schema()).get("maxLength").is_none());
        let limit = schema(Limit::schema());
        assert_eq!(
            (&limit["minimum"], &limit["maximum"]),
            (&1.into(), &1000.into())
        );
    }
    #[test]
    fn cursors_are_read_exactly_where_the_pattern_matches() {
        let pattern = regex::Regex::new(CURSOR_PATTERN).expect("the pattern compiles");
        let cases = [
            ("0.", true),
            ("1700000000000000.agent-a", true),
            ("123456789012345678.x.y", true),
            ("1234567890123456789.x", false),
            (".x", false),
            ("x.1", false),
            ("12", false),
            ("-1.x", false),
            ("", false),
        ];
        for (text, accepted) in cases {
            assert_eq!(Cursor::parse(text).is_ok(), accepted, "{text:?}");
            assert_eq!(pattern.is_match(text), accepted, "pattern on {text:?}");
        }
        let cursor = Cursor {
            created: 17,
            name: "a.b".into(),
        };
        assert_eq!(Cursor::parse(&cursor.encode()), Ok(cursor));
    }

    #[test]
    fn whole_numbers_are_taken_in_either_spelling() {
        #[derive(Deserialize)]
        struct Body {
            #[serde(default, deserialize_with = "whole_number")]
            n: Option<i32>,
        }
        let read = |json: &str| {
            serde_json::from_str::<Body>(json)
                .map(|b| b.n)
                .map_err(|_| ())
        };
        let cases = [
            ("{}", Ok(None)),
            (r#"{"n": null}"#, Ok(None)),
            (r#"{"n": 5}"#, Ok(Some(5))),
            (r#"{"n": 5.0}"#, Ok(Some(5))),
            (r#"{"n": -2.0}"#, Ok(Some(-2))),
            (r#"{"n": 5.5}"#, Err(())),
            (r#"{"n": 1e300}"#, Err(())),
            (r#"{"n": 4294967296}"#, Err(())),
            (r#"{"n": "5"}"#, Err(())),
        ];
        for (json, expected) in cases {
            assert_eq!(read(json), expected, "{json}");
        }
    }
}
