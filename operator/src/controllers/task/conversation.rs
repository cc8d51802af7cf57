//! A run's whole conversation (instructions, input, every model answer with its tool calls, every
//! tool result), kept so that any replica can continue the run after a pause, a wait for
//! approval, a hand-back on shutdown or the loss of its runner.
//!
//! It lives in Secrets owned by the Task, not in the Task: a Task is read by every watcher (the
//! api's caches, the operator's controllers, `kubectl get -w`), and a conversation can grow to
//! megabytes, past what one object may hold (etcd's limit is about 1.5 MiB). Secrets because tool
//! results and prompts may carry what tools read from private systems; RBAC on Secrets is
//! usually the tightest in a namespace, and they may be encrypted at rest.
//!
//! Messages are appended, never rewritten: each keep writes the messages added since the last one
//! as new chunks (JSON lines, split at [`CHUNK_RAW_BYTES`], each chunk gzipped on its own), and
//! the runner then records the chunk names and the message count in `status.conversation` with
//! its next status write. That record is the truth: a chunk written by a runner that lost its
//! claim before recording it is never read (its name carries its execution id, so it cannot
//! collide with the next runner's), and garbage collection removes it with the Task.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Resource, ResourceExt};

use agentarea_crds::Task;
use agentarea_crds::task::ConversationRef;

use crate::model::Message;

/// Compressed bytes up to which the whole conversation is kept inline, in the Task's status, at
/// no extra write: most runs (a few turns, small tool results) never need a Secret.
pub const INLINE_BYTES: usize = 4 * 1024;
/// Bytes of messages (as JSON lines) in one chunk. Compressed it stays under a Secret's 1 MiB even
/// when the text does not compress at all.
pub const CHUNK_RAW_BYTES: usize = 768 * 1024;
/// Label on each chunk with the uid of its Task.
pub const TASK_UID_LABEL: &str = "agentarea.io/task-uid";
/// The Secret `type` of a chunk, so that nobody mistakes it for credentials to mount.
pub const SECRET_TYPE: &str = "agentarea.io/conversation";
/// The key of a chunk's data.
const DATA_KEY: &str = "messages.jsonl.gz";

/// Why a conversation could not be kept or read back.
#[derive(thiserror::Error, Debug)]
pub enum ConversationError {
    #[error("the conversation would reach {bytes} bytes, over the limit of {limit}")]
    TooLarge { bytes: u64, limit: u64 },
    #[error("conversation chunk {0} is missing")]
    Missing(String),
    #[error("conversation chunk {chunk} is damaged: {error}")]
    Damaged { chunk: String, error: String },
    #[error("the conversation holds {found} messages, fewer than the {recorded} recorded")]
    Short { found: usize, recorded: usize },
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
}

/// The messages of a run, and how many of them are kept.
#[derive(Debug, Clone, Default)]
pub struct Conversation {
    pub messages: Vec<Message>,
    /// The record of what is kept (as `status.conversation` says, once written).
    kept: ConversationRef,
}

impl Conversation {
    /// A new conversation, nothing kept yet.
    pub fn new(messages: Vec<Message>) -> Self {
        Self {
            messages,
            kept: ConversationRef::default(),
        }
    }

    /// Reads back the conversation `reference` records.
    pub async fn load(
        api: &Api<Secret>,
        reference: &ConversationRef,
    ) -> Result<Self, ConversationError> {
        if let Some(inline) = &reference.inline {
            let chunks = [("inline".to_string(), inline.0.clone())];
            return Ok(Self {
                messages: decode(&chunks, reference.messages as usize)?,
                kept: reference.clone(),
            });
        }
        let mut chunks = Vec::with_capacity(reference.chunks.len());
        for name in &reference.chunks {
            let secret = api
                .get_opt(name)
                .await?
                .ok_or_else(|| ConversationError::Missing(name.clone()))?;
            let data = secret
                .data
                .and_then(|mut data| data.remove(DATA_KEY))
                .ok_or_else(|| ConversationError::Damaged {
                    chunk: name.clone(),
                    error: format!("no {DATA_KEY}"),
                })?;
            chunks.push((name.clone(), data.0));
        }
        let messages = decode(&chunks, reference.messages as usize)?;
        Ok(Self {
            messages,
            kept: reference.clone(),
        })
    }

    pub fn push(&mut self, message: Message) {
        self.messages.push(message);
    }

    /// Whether every message is kept.
    pub fn is_kept(&self) -> bool {
        self.kept.messages as usize == self.messages.len()
    }

    /// Writes the messages not kept yet as new chunks owned by `task`, and returns the record to
    /// write in its status. Nothing counts as kept until that status write has landed: call
    /// [`Conversation::kept_as`] then.
    pub async fn keep(
        &self,
        api: &Api<Secret>,
        task: &Task,
        execution_id: &str,
        limit: u64,
    ) -> Result<ConversationRef, ConversationError> {
        let kept = self.kept.messages as usize;
        if kept == self.messages.len() {
            return Ok(self.kept.clone());
        }
        let bytes = self.kept.bytes as u64 + jsonl(&self.messages[kept..]).len() as u64;
        if bytes > limit {
            return Err(ConversationError::TooLarge { bytes, limit });
        }
        if let Some(inline) = self.inline() {
            return Ok(inline);
        }
        // Past the inline size: everything not in a chunk yet goes into chunks, the part that
        // was inline included.
        let first = if self.kept.inline.is_some() { 0 } else { kept };
        let text = jsonl(&self.messages[first..]);
        let mut reference = ConversationRef {
            inline: None,
            stored_bytes: if first == 0 {
                0
            } else {
                self.kept.stored_bytes
            },
            ..self.kept.clone()
        };
        for part in split(&text, CHUNK_RAW_BYTES) {
            let name = chunk_name(task, execution_id, reference.chunks.len());
            let data = gzip(part.as_bytes());
            reference.stored_bytes += data.len() as i64;
            create_chunk(api, chunk(task, &name, data)).await?;
            reference.chunks.push(name);
        }
        reference.messages = self.messages.len() as i64;
        reference.bytes = bytes as i64;
        Ok(reference)
    }

    /// What is kept, as `status.conversation` records it.
    pub fn kept(&self) -> &ConversationRef {
        &self.kept
    }

    /// The whole conversation as an inline record, if it is small enough and nothing of it is in
    /// chunks yet.
    fn inline(&self) -> Option<ConversationRef> {
        if !self.kept.chunks.is_empty() {
            return None;
        }
        let text = jsonl(&self.messages);
        let data = gzip(text.as_bytes());
        (data.len() <= INLINE_BYTES).then(|| ConversationRef {
            chunks: Vec::new(),
            stored_bytes: data.len() as i64,
            inline: Some(ByteString(data)),
            messages: self.messages.len() as i64,
            bytes: text.len() as i64,
        })
    }

    /// Notes that `reference` (from [`Conversation::keep`]) is now recorded in status.
    pub fn kept_as(&mut self, reference: ConversationRef) {
        self.kept = reference;
    }
}

/// Creates `secret`. One that exists already was written by this same execution at the same
/// index (a create whose answer was lost), so it holds the same messages: that is success, and
/// the operator needs no right to change or delete Secrets.
async fn create_chunk(api: &Api<Secret>, secret: Secret) -> Result<(), kube::Error> {
    match api.create(&PostParams::default(), &secret).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.is_already_exists() => Ok(()),
        Err(error) => Err(error),
    }
}

/// `<task uid>-<first 8 of the execution id>-<index>`: unique per Task and runner.
fn chunk_name(task: &Task, execution_id: &str, index: usize) -> String {
    let execution: String = execution_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect::<String>()
        .to_ascii_lowercase();
    format!(
        "conversation-{}-{execution}-{index}",
        task.uid().unwrap_or_default()
    )
}

fn chunk(task: &Task, name: &str, data: Vec<u8>) -> Secret {
    let owner = task.controller_owner_ref(&()).map(|mut owner| {
        // Deleting the Task must not wait for its chunks.
        owner.block_owner_deletion = None;
        owner
    });
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: task.namespace(),
            labels: Some(BTreeMap::from([
                (
                    TASK_UID_LABEL.to_string(),
                    task.uid().unwrap_or_default().to_string(),
                ),
                (
                    agentarea_crds::common::MANAGED_BY_LABEL.to_string(),
                    "agentarea-operator".to_string(),
                ),
            ])),
            owner_references: owner.map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        type_: Some(SECRET_TYPE.to_string()),
        data: Some(BTreeMap::from([(DATA_KEY.to_string(), ByteString(data))])),
        ..Secret::default()
    }
}

/// The messages as JSON lines (JSON escapes newlines inside strings, so a line is a message).
fn jsonl(messages: &[Message]) -> String {
    let mut text = String::new();
    for message in messages {
        text.push_str(&serde_json::to_string(message).expect("a message serializes"));
        text.push('\n');
    }
    text
}

/// `text` in parts of at most `limit` bytes, cut at character boundaries (a cut may fall inside
/// a line: the parts are joined again before the lines are read).
fn split(text: &str, limit: usize) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(limit);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (part, tail) = rest.split_at(end);
        parts.push(part);
        rest = tail;
    }
    parts
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

/// The first `count` messages of the named chunks, in order.
fn decode(chunks: &[(String, Vec<u8>)], count: usize) -> Result<Vec<Message>, ConversationError> {
    let mut text = Vec::new();
    for (name, data) in chunks {
        GzDecoder::new(data.as_slice())
            .read_to_end(&mut text)
            .map_err(|error| ConversationError::Damaged {
                chunk: name.clone(),
                error: error.to_string(),
            })?;
    }
    let damaged = |error: String| ConversationError::Damaged {
        chunk: chunks.last().map(|(n, _)| n.clone()).unwrap_or_default(),
        error,
    };
    let text = String::from_utf8(text).map_err(|e| damaged(e.to_string()))?;
    let messages = text
        .lines()
        .take(count)
        .map(|line| serde_json::from_str(line).map_err(|e| damaged(e.to_string())))
        .collect::<Result<Vec<Message>, _>>()?;
    if messages.len() < count {
        return Err(ConversationError::Short {
            found: messages.len(),
            recorded: count,
        });
    }
    Ok(messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation(sizes: &[usize]) -> Vec<Message> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, size)| Message::user(format!("{i}:{}\n\"é", "x".repeat(*size))))
            .collect()
    }

    /// The chunks `messages` become, named by index, as `keep` would write them.
    fn encoded(messages: &[Message], limit: usize) -> Vec<(String, Vec<u8>)> {
        let text = jsonl(messages);
        split(&text, limit)
            .into_iter()
            .enumerate()
            .map(|(i, part)| (i.to_string(), gzip(part.as_bytes())))
            .collect()
    }

    #[test]
    fn messages_round_trip_through_chunks_of_any_size() {
        for (sizes, limit, at_least) in [
            (vec![10, 20, 30], CHUNK_RAW_BYTES, 1),
            // A message larger than a chunk spans several.
            (vec![10, 3000, 10], 1000, 3),
            // Cuts fall next to multi-byte characters.
            (vec![1, 1, 1, 1, 1, 1], 7, 20),
        ] {
            let messages = conversation(&sizes);
            let parts = encoded(&messages, limit);
            assert!(parts.len() >= at_least, "{sizes:?} in parts of {limit}");
            assert_eq!(decode(&parts, messages.len()).unwrap(), messages);
        }
    }

    #[test]
    fn only_the_recorded_messages_are_read() {
        // A runner appended after the last recorded count, then lost its claim: its messages
        // are not part of the conversation.
        let messages = conversation(&[5, 5, 5, 5]);
        let parts = encoded(&messages, CHUNK_RAW_BYTES);
        assert_eq!(decode(&parts, 2).unwrap(), messages[..2]);
        assert!(matches!(
            decode(&parts, 9),
            Err(ConversationError::Short {
                found: 4,
                recorded: 9
            })
        ));
    }

    #[test]
    fn a_damaged_chunk_is_named() {
        let messages = conversation(&[5]);
        let mut parts = encoded(&messages, CHUNK_RAW_BYTES);
        parts[0].1.truncate(4);
        match decode(&parts, 1) {
            Err(ConversationError::Damaged { chunk, .. }) => assert_eq!(chunk, "0"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_small_conversation_is_kept_inline_and_a_large_one_in_chunks() {
        let small = Conversation::new(conversation(&[10, 20]));
        let inline = small.inline().expect("small enough to be inline");
        assert!(inline.chunks.is_empty());
        assert_eq!(inline.messages, 2);
        let data = inline.inline.clone().unwrap().0;
        assert_eq!(
            decode(&[("inline".into(), data)], 2).unwrap(),
            small.messages
        );
        // Incompressible text past the inline size goes to chunks.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let noise: String = (0..3 * INLINE_BYTES)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                char::from(
                    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                        [(state % 62) as usize],
                )
            })
            .collect();
        assert!(
            Conversation::new(vec![Message::user(noise)])
                .inline()
                .is_none()
        );
        // Once anything is in chunks, the rest follows it there.
        let mut chunked = Conversation::new(conversation(&[1]));
        chunked.kept_as(ConversationRef {
            chunks: vec!["c0".into()],
            messages: 1,
            ..ConversationRef::default()
        });
        chunked.push(Message::user("more"));
        assert!(chunked.inline().is_none());
    }

    #[test]
    fn chunk_names_are_valid_and_unique_per_execution() {
        let mut task = Task::new("t", Default::default());
        task.metadata.uid = Some("0b3c3a0e-6c1e-4c59-9a67-6f0d6b1b6f7a".into());
        let a = chunk_name(&task, "4F2A-91be-c0de", 0);
        assert_eq!(
            a,
            "conversation-0b3c3a0e-6c1e-4c59-9a67-6f0d6b1b6f7a-4f2a91be-0"
        );
        assert_ne!(a, chunk_name(&task, "5f2a91be", 0));
        assert!(a.len() <= 253);
    }
}
