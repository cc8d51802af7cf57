//! The ledger of one workspace's token budget, as its ConfigMap's data holds it, and the decisions
//! made on it: what has been spent this period (`tokens`), and what model calls in flight hold
//! (`hold.<call id>`: their estimate and when the hold lapses).
//!
//! A call holds its estimate before it is made and settles what it really spent after. A call is
//! admitted while what is spent and held is below the budget, so however many runs share the
//! budget it is passed by at most the last admitted call's estimate (and the calls' errors
//! against their estimates); a call that finds the budget held by others waits for them to
//! settle, one that finds it spent is refused. Settling is idempotent: a call's hold goes in the
//! same write as its charge, so a settle retried after a lost answer finds the hold gone and
//! charges nothing twice.

use std::collections::BTreeMap;

const PERIOD_KEY: &str = "period";
const TOKENS_KEY: &str = "tokens";
const HOLD_PREFIX: &str = "hold.";

/// A hold of a call in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hold {
    pub tokens: u64,
    /// Unix seconds after which the hold no longer counts (its call's run went away).
    pub lapses_at: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Book {
    pub period: String,
    pub spent: u64,
    pub holds: BTreeMap<String, Hold>,
}

/// What a call may do, given the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Held: make the call.
    Admitted,
    /// Others' calls in flight hold the rest of the budget: wait for them to settle.
    Wait { spent: u64, held: u64 },
    /// The budget is spent.
    Refused { spent: u64 },
}

impl Book {
    /// The book `data` holds, in `period`: a new period starts with nothing spent (holds of
    /// calls in flight stay, and settle into the new period).
    pub fn read(data: Option<&BTreeMap<String, String>>, period: &str) -> Self {
        let mut book = Self {
            period: period.to_string(),
            ..Self::default()
        };
        let Some(data) = data else { return book };
        if data.get(PERIOD_KEY).map(String::as_str) == Some(period) {
            book.spent = data
                .get(TOKENS_KEY)
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
        }
        for (key, value) in data {
            if let (Some(id), Some(hold)) = (key.strip_prefix(HOLD_PREFIX), parse_hold(value)) {
                book.holds.insert(id.to_string(), hold);
            }
        }
        book
    }

    pub fn write(&self) -> BTreeMap<String, String> {
        let mut data = BTreeMap::from([
            (PERIOD_KEY.to_string(), self.period.clone()),
            (TOKENS_KEY.to_string(), self.spent.to_string()),
        ]);
        for (id, hold) in &self.holds {
            data.insert(
                format!("{HOLD_PREFIX}{id}"),
                format!("{}:{}", hold.tokens, hold.lapses_at),
            );
        }
        data
    }

    /// What calls in flight hold at `now`, `except` one call's own hold.
    fn held(&self, now: i64, except: &str) -> u64 {
        self.holds
            .iter()
            .filter(|(id, hold)| id.as_str() != except && hold.lapses_at > now)
            .map(|(_, hold)| hold.tokens)
            .sum()
    }

    /// Admits call `id` to hold `hold` against `budget` at `now`, writing the hold if admitted.
    /// Lapsed holds are dropped on the way.
    pub fn admit(&mut self, id: &str, hold: Hold, budget: u64, now: i64) -> Admission {
        self.holds.retain(|_, h| h.lapses_at > now);
        if self.spent >= budget {
            return Admission::Refused { spent: self.spent };
        }
        let held = self.held(now, id);
        if self.spent + held >= budget {
            return Admission::Wait {
                spent: self.spent,
                held,
            };
        }
        self.holds.insert(id.to_string(), hold);
        Admission::Admitted
    }

    /// Charges `tokens` for call `id` and ends its hold: the spending before and after, or `None`
    /// when this call was settled already (a retry after a lost answer). A call that held nothing
    /// (its hold could not be written) or whose hold lapsed and was dropped is charged all the
    /// same when `held` says it was never settled.
    pub fn settle(
        &mut self,
        id: &str,
        tokens: u64,
        held: bool,
        now: i64,
        lapses_at: i64,
    ) -> Option<(u64, u64)> {
        let was_held = self.holds.remove(id).is_some();
        // Gone before it lapsed: only this call's own settle removes a hold that has not lapsed.
        if held && !was_held && now < lapses_at {
            return None;
        }
        let before = self.spent;
        self.spent += tokens;
        Some((before, self.spent))
    }
}

fn parse_hold(value: &str) -> Option<Hold> {
    let (tokens, lapses_at) = value.split_once(':')?;
    Some(Hold {
        tokens: tokens.parse().ok()?,
        lapses_at: lapses_at.parse().ok()?,
    })
}

/// A call's estimate: its prompt (about four characters a token) and the most it may answer.
pub fn estimate(prompt_characters: usize, max_output_tokens: u64) -> u64 {
    (prompt_characters as u64).div_ceil(4) + max_output_tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000;

    fn hold(tokens: u64) -> Hold {
        Hold {
            tokens,
            lapses_at: NOW + 600,
        }
    }

    fn book(spent: u64, holds: &[(&str, u64, i64)]) -> Book {
        Book {
            period: "2026-12".into(),
            spent,
            holds: holds
                .iter()
                .map(|(id, tokens, lapses_at)| {
                    (
                        id.to_string(),
                        Hold {
                            tokens: *tokens,
                            lapses_at: *lapses_at,
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn the_book_reads_back_as_written_and_a_new_period_starts_from_nothing() {
        let written = book(120, &[("task-a.3", 40, NOW + 60)]);
        assert_eq!(Book::read(Some(&written.write()), "2026-12"), written);
        let next = Book::read(Some(&written.write()), "2027-01");
        assert_eq!(
            (next.spent, next.holds.len()),
            (0, 1),
            "holds settle into the new period"
        );
        assert_eq!(Book::read(None, "2026-12"), book(0, &[]));
        let garbled = BTreeMap::from([
            ("period".to_string(), "2026-12".to_string()),
            ("tokens".to_string(), "many".to_string()),
            ("hold.x".to_string(), "lots".to_string()),
        ]);
        assert_eq!(Book::read(Some(&garbled), "2026-12"), book(0, &[]));
    }

    #[test]
    fn a_call_is_admitted_while_spent_and_held_are_below_the_budget() {
        // (spent, holds of others, the call's own earlier hold?, admission)
        let cases = [
            (0, vec![], Admission::Admitted),
            (99, vec![], Admission::Admitted),
            (100, vec![], Admission::Refused { spent: 100 }),
            (130, vec![], Admission::Refused { spent: 130 }),
            (60, vec![("other", 30, NOW + 10)], Admission::Admitted),
            (
                60,
                vec![("other", 40, NOW + 10)],
                Admission::Wait {
                    spent: 60,
                    held: 40,
                },
            ),
            // A lapsed hold (its run went away) holds nothing.
            (60, vec![("other", 40, NOW)], Admission::Admitted),
            // The call's own hold, written before and retried, is not counted against it.
            (60, vec![("me", 40, NOW + 10)], Admission::Admitted),
        ];
        for (spent, holds, expected) in cases {
            let mut book = book(spent, &holds);
            assert_eq!(
                book.admit("me", hold(500), 100, NOW),
                expected,
                "{spent} {holds:?}"
            );
            assert_eq!(
                book.holds.contains_key("me"),
                expected == Admission::Admitted || holds.iter().any(|h| h.0 == "me")
            );
            assert!(
                book.holds.values().all(|h| h.lapses_at > NOW),
                "lapsed holds dropped"
            );
        }
    }

    #[test]
    fn a_settle_charges_once_and_ends_the_hold() {
        let mut held = book(10, &[("me", 500, NOW + 600), ("other", 40, NOW + 600)]);
        assert_eq!(held.settle("me", 15, true, NOW, NOW + 600), Some((10, 25)));
        assert_eq!(held.holds.keys().collect::<Vec<_>>(), ["other"]);
        // Retried after a lost answer: already done.
        assert_eq!(held.settle("me", 15, true, NOW, NOW + 600), None);
        assert_eq!(held.spent, 25);
        // A call that could not hold is charged.
        assert_eq!(
            held.settle("unheld", 5, false, NOW, NOW + 600),
            Some((25, 30))
        );
        // A call whose hold lapsed and was dropped by another's admission is charged.
        assert_eq!(
            held.settle("slow", 7, true, NOW + 700, NOW + 600),
            Some((30, 37))
        );
    }

    #[test]
    fn an_estimate_is_the_prompt_and_the_most_the_answer_may_be() {
        assert_eq!(estimate(0, 64), 64);
        assert_eq!(estimate(401, 0), 101);
        assert_eq!(estimate(4_000, 512), 1_512);
    }
}
