//! The token budget of a workspace: how many tokens all its Tasks together may spend per calendar
//! period (a UTC day or month). A run checks the budget before each model call and charges what
//! the call spent after it; a Task that would call the model with the budget spent fails with
//! `BudgetExceeded`, and the call that crosses the warning threshold leaves a `BudgetWarning`
//! Event on its Task.
//!
//! What a workspace has spent is kept in a ConfigMap per workspace in the operator's own
//! namespace (`agentarea-budget-<workspace namespace>`), where the workspace's people have no
//! rights: a budget they could reset would be no budget. Charges are read-modify-writes on the
//! ConfigMap's resourceVersion, so concurrent runs of one workspace never lose a charge.

use std::collections::BTreeMap;

use clap::{Args, ValueEnum};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use k8s_openapi::jiff::tz::TimeZone;
use kube::api::PostParams;
use kube::{Api, Client};

const PERIOD_KEY: &str = "period";
const TOKENS_KEY: &str = "tokens";
/// Attempts of a charge against concurrent charges of the same workspace.
const CHARGE_ATTEMPTS: usize = 10;

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

/// The ledger entry `data` holds for `period`: what was spent in it, 0 for a new period.
fn spent_in(data: Option<&BTreeMap<String, String>>, period: &str) -> u64 {
    let Some(data) = data else { return 0 };
    if data.get(PERIOD_KEY).map(String::as_str) != Some(period) {
        return 0;
    }
    data.get(TOKENS_KEY)
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}

fn ledger_data(period: &str, tokens: u64) -> BTreeMap<String, String> {
    BTreeMap::from([
        (PERIOD_KEY.to_string(), period.to_string()),
        (TOKENS_KEY.to_string(), tokens.to_string()),
    ])
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

    /// Why the workspace in `namespace` may not call the model now, if it has spent its budget.
    pub async fn refusal(&self, namespace: &str) -> kube::Result<Option<String>> {
        if !self.settings.enabled() {
            return Ok(None);
        }
        let ledger = self.ledgers.get_opt(&Self::name(namespace)).await?;
        let spent = spent_in(ledger.and_then(|l| l.data).as_ref(), &self.period());
        Ok(self.settings.refusal(spent))
    }

    /// Adds `tokens` to what the workspace in `namespace` spent this period; returns the
    /// spending before and after.
    pub async fn charge(&self, namespace: &str, tokens: u64) -> kube::Result<Option<(u64, u64)>> {
        if !self.settings.enabled() || tokens == 0 {
            return Ok(None);
        }
        let name = Self::name(namespace);
        let period = self.period();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = match self.ledgers.get_opt(&name).await? {
                None => {
                    let ledger = ConfigMap {
                        metadata: ObjectMeta {
                            name: Some(name.clone()),
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
                        data: Some(ledger_data(&period, tokens)),
                        ..ConfigMap::default()
                    };
                    self.ledgers
                        .create(&PostParams::default(), &ledger)
                        .await
                        .map(|_| (0, tokens))
                }
                Some(mut ledger) => {
                    let before = spent_in(ledger.data.as_ref(), &period);
                    ledger.data = Some(ledger_data(&period, before + tokens));
                    // `replace` carries the resourceVersion read: a charge made meanwhile is a
                    // conflict, and this one is made again on top of it.
                    self.ledgers
                        .replace(&name, &PostParams::default(), &ledger)
                        .await
                        .map(|_| (before, before + tokens))
                }
            };
            match result {
                Err(kube::Error::Api(status))
                    if (status.code == 409) && attempt < CHARGE_ATTEMPTS => {}
                result => return result.map(Some),
            }
        }
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
    fn only_the_current_periods_spending_counts() {
        let data = ledger_data("2026-12", 700);
        let cases = [
            (Some(&data), "2026-12", 700),
            (Some(&data), "2027-01", 0),
            (None, "2026-12", 0),
        ];
        for (data, period, spent) in cases {
            assert_eq!(spent_in(data, period), spent, "{period}");
        }
        let garbled = BTreeMap::from([
            (PERIOD_KEY.to_string(), "2026-12".to_string()),
            (TOKENS_KEY.to_string(), "many".to_string()),
        ]);
        assert_eq!(spent_in(Some(&garbled), "2026-12"), 0);
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
