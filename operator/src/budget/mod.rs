//! The token budget of a workspace: how many tokens all its Tasks together may spend per calendar
//! period (a UTC day or month). A run holds a model call's estimate before making it and settles
//! what the call spent after ([`book`]); a Task that would call the model with the budget spent
//! fails with `BudgetExceeded`, one that finds the rest held by calls in flight waits for them, and
//! the call that crosses the warning threshold leaves a `BudgetWarning` Event on its Task.
//!
//! What a workspace has spent is kept in a ConfigMap per workspace in the operator's own
//! namespace (`agentarea-budget-<workspace namespace>`), where the workspace's people have no
//! rights: a budget they could reset would be no budget. Every change is a read-modify-write on
//! the ConfigMap's resourceVersion, and a conflict (another run's write landed first) is tried
//! again until it lands: no charge is lost to a busy ledger.

pub mod book;

use std::collections::BTreeMap;
use std::time::Duration;

use clap::{Args, ValueEnum};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use k8s_openapi::jiff::tz::TimeZone;
use kube::api::PostParams;
use kube::{Api, Client};

use book::{Admission, Book, Hold};

/// How long a call's hold counts if its run never settles it (the run's replica went away).
const HOLD_LAPSES_AFTER_SECONDS: i64 = 900;
/// How often a call waiting for others' holds looks again.
const WAIT_FOR_HOLDS: Duration = Duration::from_millis(250);

/// A calendar period, in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Period {
    Day,
    Month,
}

impl Period {
    /// The period `now` falls in, as it is written in the ledger (`2026-12` or `2026-12-04`).
    pub fn of(self, now: Timestamp) -> String {
        let date = now.to_zoned(TimeZone::UTC).date();
        match self {
            Self::Day => format!("{:04}-{:02}-{:02}", date.year(), date.month(), date.day()),
            Self::Month => format!("{:04}-{:02}", date.year(), date.month()),
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Self::Day => "today",
            Self::Month => "this month",
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct BudgetArgs {
    /// Tokens one workspace's Tasks may spend together per period (0: no budget).
    #[arg(long, env = "AGENTAREA_WORKSPACE_TOKEN_BUDGET", default_value_t = 0)]
    pub workspace_token_budget: u64,
    /// The period of that budget: `day` or `month` (UTC).
    #[arg(long, env = "AGENTAREA_WORKSPACE_BUDGET_PERIOD", value_enum, default_value_t = Period::Month)]
    pub workspace_budget_period: Period,
    /// The share of the budget (percent) whose spending leaves a `BudgetWarning` Event.
    #[arg(
        long,
        env = "AGENTAREA_WORKSPACE_BUDGET_WARNING_PERCENT",
        default_value_t = 80,
        value_parser = clap::value_parser!(u8).range(1..=100)
    )]
    pub workspace_budget_warning_percent: u8,
}

/// What a workspace has spent in the current period, against its budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spent {
    pub tokens: u64,
    pub budget: u64,
}

impl BudgetArgs {
    fn enabled(&self) -> bool {
        self.workspace_token_budget > 0
    }

    /// Why a model call may not be made, if the budget is spent.
    pub fn refusal(&self, spent: u64) -> Option<String> {
        (self.enabled() && spent >= self.workspace_token_budget).then(|| {
            format!(
                "the workspace has spent {spent} tokens {}, its whole budget of {} \
                 (the operator's --workspace-token-budget)",
                self.workspace_budget_period.noun(),
                self.workspace_token_budget
            )
        })
    }

    /// The warning due when a charge took the spending from `before` to `after` across the
    /// threshold (once per period: only the charge that crosses it warns).
    pub fn warning(&self, before: u64, after: u64) -> Option<String> {
        let threshold =
            self.workspace_token_budget * u64::from(self.workspace_budget_warning_percent) / 100;
        (self.enabled() && before < threshold && after >= threshold).then(|| {
            format!(
                "the workspace has spent {after} of its {} tokens {} ({}% or more)",
                self.workspace_token_budget,
                self.workspace_budget_period.noun(),
                self.workspace_budget_warning_percent
            )
        })
    }
}

/// The budgets of all workspaces, kept in `namespace`.
pub struct Ledger {
    pub settings: BudgetArgs,
    ledgers: Api<ConfigMap>,
}

impl Ledger {
    pub fn new(client: Client, namespace: &str, settings: BudgetArgs) -> Self {
        Self {
            settings,
            ledgers: Api::namespaced(client, namespace),
        }
    }

    fn name(workspace_namespace: &str) -> String {
        format!("agentarea-budget-{workspace_namespace}")
    }

    fn period(&self) -> String {
        self.settings.workspace_budget_period.of(Timestamp::now())
    }

    /// Holds `estimate` tokens for call `id` of the workspace in `namespace` before it is made;
    /// waits while others' calls in flight hold the rest of the budget. `Err` with the reason
    /// when the budget is spent. A ledger that cannot be written lets the call go unheld (its
    /// settle still charges it): an apiserver hiccup should not fail every workspace's tasks.
    pub async fn reserve(
        &self,
        namespace: &str,
        id: &str,
        estimate: u64,
    ) -> Result<Reservation, String> {
        if !self.settings.enabled() {
            return Ok(Reservation::Unlimited);
        }
        let budget = self.settings.workspace_token_budget;
        loop {
            let now = Timestamp::now().as_second();
            let hold = Hold {
                tokens: estimate,
                lapses_at: now + HOLD_LAPSES_AFTER_SECONDS,
            };
            let admission = self
                .update(namespace, |book| book.admit(id, hold, budget, now))
                .await;
            match admission {
                Ok(Admission::Admitted) => {
                    return Ok(Reservation::Held {
                        id: id.to_string(),
                        lapses_at: hold.lapses_at,
                    });
                }
                Ok(Admission::Refused { spent }) => {
                    return Err(self.settings.refusal(spent).unwrap_or_default());
                }
                Ok(Admission::Wait { .. }) => tokio::time::sleep(WAIT_FOR_HOLDS).await,
                Err(error) => {
                    tracing::warn!(%error, "the token ledger could not be written; the call goes unheld");
                    return Ok(Reservation::Unheld { id: id.to_string() });
                }
            }
        }
    }

    /// Charges what call `reservation` spent and ends its hold; the spending before and after, or
    /// `None` when there is nothing to charge or it was charged already. Conflicts are tried
    /// again until the charge lands; another error is returned, for the run to try again before
    /// it makes its next call.
    pub async fn settle(
        &self,
        namespace: &str,
        reservation: &Reservation,
        tokens: u64,
    ) -> kube::Result<Option<(u64, u64)>> {
        let (id, held, lapses_at) = match reservation {
            Reservation::Unlimited => return Ok(None),
            Reservation::Held { id, lapses_at } => (id, true, *lapses_at),
            Reservation::Unheld { id } => (id, false, i64::MAX),
        };
        let now = Timestamp::now().as_second();
        self.update(namespace, |book| {
            book.settle(id, tokens, held, now, lapses_at)
        })
        .await
    }

    /// Applies `change` to the workspace's book and writes it if it changed, against the
    /// ConfigMap's resourceVersion; a write that conflicts with another is made again on what
    /// that one left, as often as it takes (each conflict is another write that landed).
    async fn update<T>(
        &self,
        namespace: &str,
        mut change: impl FnMut(&mut Book) -> T,
    ) -> kube::Result<T> {
        let name = Self::name(namespace);
        let period = self.period();
        let mut conflicts: u64 = 0;
        loop {
            let current = self.ledgers.get_opt(&name).await?;
            let mut book = Book::read(current.as_ref().and_then(|c| c.data.as_ref()), &period);
            let read = book.clone();
            let outcome = change(&mut book);
            if book == read {
                return Ok(outcome);
            }
            let written = match current {
                None => {
                    let ledger = new_ledger(&name, namespace, book.write());
                    self.ledgers.create(&PostParams::default(), &ledger).await
                }
                Some(mut ledger) => {
                    ledger.data = Some(book.write());
                    self.ledgers
                        .replace(&name, &PostParams::default(), &ledger)
                        .await
                }
            };
            match written {
                Ok(_) => return Ok(outcome),
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    conflicts += 1;
                    // Spread the writers out a little, so that they do not meet again at once.
                    tokio::time::sleep(Duration::from_millis(2 * conflicts.min(25))).await;
                }
                Err(error) => return Err(error),
            }
        }
    }
}

/// A model call's standing against its workspace's budget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reservation {
    /// No budget is set.
    Unlimited,
    /// Its estimate is held until `lapses_at` (unix seconds).
    Held { id: String, lapses_at: i64 },
    /// The hold could not be written; the call is charged all the same.
    Unheld { id: String },
}

fn new_ledger(name: &str, namespace: &str, data: BTreeMap<String, String>) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_string(),
                "agentarea-operator".to_string(),
            )])),
            annotations: Some(BTreeMap::from([(
                "agentarea.io/workspace-namespace".to_string(),
                namespace.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        data: Some(data),
        ..ConfigMap::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(budget: u64, warning: u8) -> BudgetArgs {
        BudgetArgs {
            workspace_token_budget: budget,
            workspace_budget_period: Period::Month,
            workspace_budget_warning_percent: warning,
        }
    }

    #[test]
    fn periods_are_utc_days_and_months() {
        let late = "2026-12-31T23:59:59Z".parse().unwrap();
        assert_eq!(Period::Day.of(late), "2026-12-31");
        assert_eq!(Period::Month.of(late), "2026-12");
        let early = "2027-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(Period::Month.of(early), "2027-01");
    }

    #[test]
    fn a_call_is_refused_once_the_budget_is_spent() {
        let cases = [
            (settings(1000, 80), 999, false),
            (settings(1000, 80), 1000, true),
            (settings(1000, 80), 5000, true),
            (settings(0, 80), 5000, false),
        ];
        for (settings, spent, refused) in cases {
            assert_eq!(settings.refusal(spent).is_some(), refused, "{spent}");
        }
        let message = settings(1000, 80).refusal(1200).unwrap();
        assert!(
            message.starts_with(
                "the workspace has spent 1200 tokens this month, its whole budget of 1000"
            ),
            "{message}"
        );
    }

    #[test]
    fn only_the_charge_that_crosses_the_threshold_warns() {
        let cases = [
            ((700, 790), false),
            ((700, 800), true),
            ((790, 1200), true),
            ((800, 900), false),
            ((0, 2000), true),
        ];
        for ((before, after), warns) in cases {
            assert_eq!(
                settings(1000, 80).warning(before, after).is_some(),
                warns,
                "{before} -> {after}"
            );
        }
        assert!(settings(0, 80).warning(0, 10).is_none());
    }
}
