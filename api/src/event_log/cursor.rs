//! The ids of `/v1/events`: a cursor saying how far a stream has come in each kind's history.
//!
//! A position in one kind's history is a resourceVersion. Every api replica watches the same
//! etcd, so a position means the same thing in all of them and after any restart, and a stream
//! resumed from a cursor on another replica continues exactly: each kind from its own position.
//!
//! One position per kind, rather than one for the whole stream, because the watches of different
//! kinds are separate streams: a single number would have to hold each event back until every
//! other watch had passed it (known only from bookmarks, which come about once a minute), or
//! else a resumed stream would skip what one watch delivered late.
//!
//! The text form is `v1.agent=12,skill=40,...`; a stream sends it as each event's id.

use std::collections::BTreeMap;

const FORMAT: &str = "v1";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor(BTreeMap<String, u64>);

impl Cursor {
    pub fn new(positions: impl IntoIterator<Item = (String, u64)>) -> Self {
        Self(positions.into_iter().collect())
    }

    pub fn get(&self, kind: &str) -> Option<u64> {
        self.0.get(kind).copied()
    }

    pub fn kinds(&self) -> impl Iterator<Item = (&str, u64)> {
        self.0.iter().map(|(kind, at)| (kind.as_str(), *at))
    }

    /// Takes one entry of `kind`'s history: whether it is news to this stream, that is whether
    /// the stream stands below `news_below`; the stream then stands at least at `position`.
    ///
    /// A change the watch delivered is news below its own position. A change a re-list found
    /// (`crate::cache::relist`) is news below the re-list's version: it happened somewhere before
    /// that, exactly when is not known.
    pub fn take(&mut self, kind: &str, position: u64, news_below: u64) -> bool {
        let at = self.0.entry(kind.to_string()).or_default();
        let news = *at < news_below;
        *at = (*at).max(position);
        news
    }

    /// Parses an id this module made; anything else is `None`.
    pub fn parse(id: &str) -> Option<Self> {
        let positions = id.trim().strip_prefix(FORMAT)?.strip_prefix('.')?;
        let mut cursor = BTreeMap::new();
        for pair in positions.split(',').filter(|_| !positions.is_empty()) {
            let (kind, at) = pair.split_once('=')?;
            let valid_kind =
                !kind.is_empty() && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
            if !valid_kind || cursor.insert(kind.to_string(), at.parse().ok()?).is_some() {
                return None;
            }
        }
        Some(Self(cursor))
    }

    pub fn to_id(&self) -> String {
        let positions: Vec<String> = self
            .0
            .iter()
            .map(|(kind, at)| format!("{kind}={at}"))
            .collect();
        format!("{FORMAT}.{}", positions.join(","))
    }
}

/// What a stream resuming from `cursor` must fetch from the apiserver before the log can serve
/// it: for each kind whose position is older than the log's unbroken history of that kind
/// (`starts`), the range `(after, until]`. `None` when the cursor does not name every kind of
/// the log: it is not one of ours, or from a version with other kinds.
pub fn behind(cursor: &Cursor, starts: &BTreeMap<&'static str, u64>) -> Option<Vec<Fetch>> {
    let mut fetches = Vec::new();
    for (kind, start) in starts {
        let at = cursor.get(kind)?;
        if at < *start {
            fetches.push(Fetch {
                kind,
                after: at,
                until: *start,
            });
        }
    }
    Some(fetches)
}

/// A stretch of one kind's history to fetch from the apiserver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    pub kind: &'static str,
    pub after: u64,
    pub until: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(pairs: &[(&str, u64)]) -> Cursor {
        Cursor::new(pairs.iter().map(|(k, v)| (k.to_string(), *v)))
    }

    #[test]
    fn ids_read_back_as_the_cursor_they_were_made_from() {
        let cases = [
            cursor(&[("agent", 12), ("skill", 40), ("task", 7)]),
            cursor(&[("mcp_server_instance", 0)]),
            cursor(&[]),
        ];
        for c in cases {
            assert_eq!(Cursor::parse(&c.to_id()), Some(c.clone()), "{}", c.to_id());
        }
        assert_eq!(
            cursor(&[("task", 7), ("agent", 12)]).to_id(),
            "v1.agent=12,task=7"
        );
    }

    #[test]
    fn ids_not_of_this_format_are_refused() {
        let cases = [
            "",
            "garbage",
            "deadbeef-42",
            "v2.agent=1",
            "v1agent=1",
            "v1.agent",
            "v1.agent=x",
            "v1.agent=-1",
            "v1.Agent=1",
            "v1.agent=1,agent=2",
            "v1.agent=1,",
            "v1.,",
            "v1.=1",
        ];
        for id in cases {
            assert_eq!(Cursor::parse(id), None, "{id:?}");
        }
    }

    #[test]
    fn a_stream_takes_news_once_and_stands_at_the_furthest_position() {
        // (the stream's position, entry position, news below, news?, position after)
        let cases = [
            (10, 11, 11, true, 11),
            (11, 11, 11, false, 11),
            (12, 11, 11, false, 12),
            // A change a re-list found at version 20: news to a stream before 20 whatever the
            // object's own version, and not to one at or past 20.
            (10, 5, 20, true, 10),
            (10, 15, 20, true, 15),
            (20, 15, 20, false, 20),
            // A bookmark: no news, a position.
            (10, 30, 0, false, 30),
        ];
        for (at, position, news_below, news, after) in cases {
            let mut c = cursor(&[("skill", at)]);
            assert_eq!(
                c.take("skill", position, news_below),
                news,
                "{at} {position} {news_below}"
            );
            assert_eq!(c.get("skill"), Some(after));
        }
    }

    #[test]
    fn a_cursor_behind_the_log_fetches_just_what_the_log_lacks() {
        let starts: BTreeMap<&'static str, u64> = [("agent", 100), ("skill", 50)].into();
        // (cursor, fetches)
        let cases: Vec<(Cursor, Option<Vec<Fetch>>)> = vec![
            (cursor(&[("agent", 100), ("skill", 60)]), Some(vec![])),
            (
                cursor(&[("agent", 90), ("skill", 60)]),
                Some(vec![Fetch {
                    kind: "agent",
                    after: 90,
                    until: 100,
                }]),
            ),
            (
                cursor(&[("agent", 1), ("skill", 2)]),
                Some(vec![
                    Fetch {
                        kind: "agent",
                        after: 1,
                        until: 100,
                    },
                    Fetch {
                        kind: "skill",
                        after: 2,
                        until: 50,
                    },
                ]),
            ),
            // Ahead of this replica (it came from one further along): nothing to fetch.
            (cursor(&[("agent", 500), ("skill", 500)]), Some(vec![])),
            // A kind the cursor does not know, or a cursor of no kinds.
            (cursor(&[("agent", 100)]), None),
            (cursor(&[]), None),
        ];
        for (c, expected) in cases {
            assert_eq!(behind(&c, &starts), expected, "{}", c.to_id());
        }
    }
}
