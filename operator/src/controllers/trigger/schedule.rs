//! When a schedule trigger is due, as CronJob decides it: only the most recent missed run is
//! considered (an operator outage never causes a burst), and it is skipped when it is later than
//! the starting deadline.

use std::str::FromStr;

use croner::Cron;
use k8s_openapi::jiff::{SignedDuration, Timestamp, Zoned, tz::TimeZone};

use agentarea_crds::trigger::ScheduleTrigger;

/// What to do now.
#[derive(Debug, PartialEq)]
pub struct Plan {
    /// The scheduled time of the run that is due, if one is.
    pub due: Option<Timestamp>,
    /// A due run that is too late to start (past the starting deadline), and why.
    pub missed: Option<(Timestamp, String)>,
    /// The next scheduled time after now.
    pub next: Option<Timestamp>,
}

/// The parsed schedule in its time zone.
pub struct Schedule {
    cron: Cron,
    zone: TimeZone,
    deadline: Option<SignedDuration>,
}

impl Schedule {
    /// Parses `spec`; the error says what is wrong with the expression or the zone.
    pub fn parse(spec: &ScheduleTrigger) -> Result<Self, String> {
        let cron = Cron::from_str(&spec.cron)
            .map_err(|e| format!("cron expression {:?}: {e}", spec.cron))?;
        let zone = TimeZone::get(&spec.time_zone)
            .map_err(|e| format!("time zone {:?}: {e}", spec.time_zone))?;
        Ok(Self {
            cron,
            zone,
            deadline: spec
                .starting_deadline_seconds
                .map(SignedDuration::from_secs),
        })
    }

    /// What is due at `now`, given that runs up to `last` (the last scheduled time considered,
    /// or the trigger's creation) have been dealt with.
    pub fn plan(&self, last: Timestamp, now: Timestamp) -> Plan {
        let now_zoned = now.to_zoned(self.zone.clone());
        let latest = self
            .cron
            .find_previous_occurrence(&now_zoned, true)
            .ok()
            .map(|z: Zoned| z.timestamp())
            .filter(|t| *t > last);
        let next = self
            .cron
            .find_next_occurrence(&now_zoned, false)
            .ok()
            .map(|z: Zoned| z.timestamp());
        let (due, missed) = match (latest, self.deadline) {
            (Some(at), Some(deadline)) if now.duration_since(at) > deadline => (
                None,
                Some((
                    at,
                    format!(
                        "the run due at {at} was missed by more than the starting deadline ({}s)",
                        deadline.as_secs()
                    ),
                )),
            ),
            (latest, _) => (latest, None),
        };
        Plan { due, missed, next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(cron: &str, zone: &str, deadline: Option<i64>) -> Schedule {
        Schedule::parse(&ScheduleTrigger {
            cron: cron.into(),
            time_zone: zone.into(),
            concurrency_policy: Default::default(),
            starting_deadline_seconds: deadline,
            successful_history_limit: 3,
            failed_history_limit: 1,
        })
        .unwrap()
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn an_outage_yields_one_run_not_a_burst() {
        let hourly = schedule("0 * * * *", "UTC", None);
        // Last considered at 01:00; now 05:30: four runs were missed, only 05:00 is due.
        let plan = hourly.plan(at("2026-01-01T01:00:00Z"), at("2026-01-01T05:30:00Z"));
        assert_eq!(plan.due, Some(at("2026-01-01T05:00:00Z")));
        assert_eq!(plan.next, Some(at("2026-01-01T06:00:00Z")));
        // Once 05:00 is recorded, nothing is due until 06:00.
        let plan = hourly.plan(at("2026-01-01T05:00:00Z"), at("2026-01-01T05:30:00Z"));
        assert_eq!(plan.due, None);
    }

    #[test]
    fn a_run_past_its_starting_deadline_is_skipped() {
        let hourly = schedule("0 * * * *", "UTC", Some(60));
        let plan = hourly.plan(at("2026-01-01T04:00:00Z"), at("2026-01-01T05:30:00Z"));
        assert_eq!(plan.due, None);
        assert_eq!(plan.missed.unwrap().0, at("2026-01-01T05:00:00Z"));
    }

    #[test]
    fn schedules_are_read_in_their_time_zone() {
        let nine = schedule("0 9 * * *", "America/New_York", None);
        let plan = nine.plan(at("2026-07-01T00:00:00Z"), at("2026-07-01T12:00:00Z"));
        // 09:00 in New York in July is 13:00 UTC: not due yet at 12:00 UTC.
        assert_eq!(plan.due, None);
        assert_eq!(plan.next, Some(at("2026-07-01T13:00:00Z")));
    }

    #[test]
    fn seconds_and_macros_parse_and_bad_input_says_why() {
        let every_two = schedule("*/2 * * * * *", "UTC", None);
        let plan = every_two.plan(at("2026-01-01T00:00:00Z"), at("2026-01-01T00:00:03Z"));
        assert_eq!(plan.due, Some(at("2026-01-01T00:00:02Z")));
        schedule("@hourly", "Europe/Berlin", None);
        let bad = |cron: &str, zone: &str| {
            Schedule::parse(&ScheduleTrigger {
                cron: cron.into(),
                time_zone: zone.into(),
                concurrency_policy: Default::default(),
                starting_deadline_seconds: None,
                successful_history_limit: 3,
                failed_history_limit: 1,
            })
            .err()
            .unwrap()
        };
        assert!(bad("61 * * * *", "UTC").contains("cron expression"));
        assert!(bad("* * * * *", "Mars/Olympus").contains("time zone"));
    }
}
