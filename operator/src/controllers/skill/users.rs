//! Which agents name which skills, kept from a watch of Agents: what a Skill's `usedBy` is counted
//! from, and which skills have to count again after an agent changes.
//!
//! Before this index the Skill reconcile listed every Agent of its namespace, and every event of
//! any Agent (its status writes too) reconciled every Skill of the namespace: with 20 agents and
//! 20 skills in a workspace, one agent's status write cost 20 LISTs of 20 agents. Now only a
//! change of the skills an agent names wakes a skill, and only the skills it added or dropped.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{Stream, StreamExt};
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::watch;

use agentarea_crds::{Agent, Skill};

use crate::error::{Error, Result};

/// How long a Skill reconcile waits for the first list of Agents before it is retried.
const FIRST_LIST_WAIT: Duration = Duration::from_secs(10);

/// The skills each agent names, by namespace and agent name.
type Named = HashMap<String, HashMap<String, BTreeSet<String>>>;

/// The index itself: decided from watch events alone, so it is tested without a cluster.
#[derive(Default)]
struct SkillUsers {
    named: Named,
    /// While the watch lists again: what was known before, to tell which agents went away while
    /// the watch was down. Dropped when the list is done.
    before_relist: Option<Named>,
}

impl SkillUsers {
    /// The skills whose users may have changed with `event`, as (namespace, skill name).
    fn on(&mut self, event: &watcher::Event<Agent>) -> Vec<(String, String)> {
        match event {
            watcher::Event::Init => {
                self.before_relist = Some(std::mem::take(&mut self.named));
                Vec::new()
            }
            watcher::Event::InitDone => {
                let gone = self.before_relist.take().unwrap_or_default();
                gone.into_iter()
                    .flat_map(|(namespace, agents)| {
                        agents
                            .into_values()
                            .flatten()
                            .map(move |skill| (namespace.clone(), skill))
                    })
                    .collect()
            }
            watcher::Event::Apply(agent) | watcher::Event::InitApply(agent) => {
                let Some(namespace) = agent.namespace() else {
                    return Vec::new();
                };
                let name = agent.name_any();
                let now: BTreeSet<String> =
                    agent.spec.skills.iter().map(|s| s.name.clone()).collect();
                let before = self.forget(&namespace, &name).unwrap_or_default();
                let changed = before.symmetric_difference(&now).cloned().collect();
                if !now.is_empty() {
                    self.named
                        .entry(namespace.clone())
                        .or_default()
                        .insert(name, now);
                }
                within(&namespace, changed)
            }
            watcher::Event::Delete(agent) => {
                let Some(namespace) = agent.namespace() else {
                    return Vec::new();
                };
                let before = self.forget(&namespace, &agent.name_any());
                within(&namespace, before.unwrap_or_default().into_iter().collect())
            }
        }
    }

    /// Removes what is known of an agent, from the current index or else from before a relist.
    fn forget(&mut self, namespace: &str, agent: &str) -> Option<BTreeSet<String>> {
        let remove = |named: &mut Named| {
            let agents = named.get_mut(namespace)?;
            let skills = agents.remove(agent);
            if agents.is_empty() {
                named.remove(namespace);
            }
            skills
        };
        remove(&mut self.named).or_else(|| self.before_relist.as_mut().and_then(remove))
    }

    /// The agents of `namespace` that name `skill`, sorted by name.
    fn users_of(&self, namespace: &str, skill: &str) -> Vec<String> {
        let mut users: Vec<String> = self
            .named
            .get(namespace)
            .into_iter()
            .flatten()
            .filter(|(_, skills)| skills.contains(skill))
            .map(|(agent, _)| agent.clone())
            .collect();
        users.sort();
        users
    }
}

fn within(namespace: &str, skills: Vec<String>) -> Vec<(String, String)> {
    skills
        .into_iter()
        .map(|skill| (namespace.to_string(), skill))
        .collect()
}

/// The index shared by the Skill controller's trigger stream, which feeds it, and its reconcile,
/// which reads it.
#[derive(Clone)]
pub struct AgentSkills {
    users: Arc<Mutex<SkillUsers>>,
    /// Whether the first list of Agents is in: before it, a count would be short.
    listed: watch::Sender<bool>,
}

impl Default for AgentSkills {
    fn default() -> Self {
        Self {
            users: Arc::default(),
            listed: watch::Sender::new(false),
        }
    }
}

impl AgentSkills {
    /// Keeps the index from `agents` (a watch of every Agent) and yields the Skills whose users
    /// changed, for `Controller::reconcile_on`. Watch errors are retried with back-off and logged.
    pub fn follow(
        &self,
        agents: impl Stream<Item = Result<watcher::Event<Agent>, watcher::Error>> + Send + 'static,
    ) -> impl Stream<Item = ObjectRef<Skill>> + Send + 'static {
        let index = self.clone();
        agents
            .default_backoff()
            .flat_map(move |event| {
                let changed = match event {
                    Ok(event) => index.apply(&event),
                    Err(error) => {
                        tracing::warn!(%error, "watch of Agents for skill users failed; retrying");
                        Vec::new()
                    }
                };
                futures::stream::iter(changed)
            })
            .map(|(namespace, skill)| ObjectRef::new(&skill).within(&namespace))
    }

    fn apply(&self, event: &watcher::Event<Agent>) -> Vec<(String, String)> {
        let changed = self.users.lock().expect("skill users lock").on(event);
        if matches!(event, watcher::Event::InitDone) {
            self.listed.send_replace(true);
        }
        changed
    }

    /// The agents of `namespace` that name `skill`, sorted by name, once the first list of Agents
    /// is in; an error (retried with the reconcile's back-off) if it is not in within
    /// [`FIRST_LIST_WAIT`], so a watch that cannot list holds no reconcile slot for long.
    pub async fn users_of(&self, namespace: &str, skill: &str) -> Result<Vec<String>> {
        let mut listed = self.listed.subscribe();
        let in_time = tokio::time::timeout(FIRST_LIST_WAIT, listed.wait_for(|listed| *listed));
        if !matches!(in_time.await, Ok(Ok(_))) {
            return Err(Error::NotYetListed("Agents"));
        }
        Ok(self
            .users
            .lock()
            .expect("skill users lock")
            .users_of(namespace, skill))
    }
}

#[cfg(test)]
mod tests {
    use agentarea_crds::AgentSpec;
    use serde_json::json;

    use super::*;

    fn agent(namespace: &str, name: &str, skills: &[&str]) -> Agent {
        let skills: Vec<_> = skills.iter().map(|s| json!({"name": s})).collect();
        let spec: AgentSpec = serde_json::from_value(json!({
            "instruction": "Help.",
            "model": {"name": "m"},
            "skills": skills,
        }))
        .unwrap();
        let mut agent = Agent::new(name, spec);
        agent.metadata.namespace = Some(namespace.into());
        agent
    }

    fn woken(changed: Vec<(String, String)>) -> Vec<String> {
        let mut woken: Vec<String> = changed
            .into_iter()
            .map(|(ns, skill)| format!("{ns}/{skill}"))
            .collect();
        woken.sort();
        woken
    }

    #[test]
    fn only_the_skills_an_agent_adds_or_drops_are_woken() {
        use watcher::Event::{Apply, Delete};
        type Case = (
            &'static str,
            Vec<watcher::Event<Agent>>,
            &'static [&'static str],
        );
        let cases: Vec<Case> = vec![
            (
                "a new agent wakes the skills it names",
                vec![Apply(agent("a", "x", &["s1", "s2"]))],
                &["a/s1", "a/s2"],
            ),
            (
                "its status written again wakes none",
                vec![
                    Apply(agent("a", "x", &["s1"])),
                    Apply(agent("a", "x", &["s1"])),
                ],
                &[],
            ),
            (
                "a skill swapped wakes the old and the new",
                vec![
                    Apply(agent("a", "x", &["s1", "s2"])),
                    Apply(agent("a", "x", &["s2", "s3"])),
                ],
                &["a/s1", "a/s3"],
            ),
            (
                "a deleted agent wakes what it named",
                vec![
                    Apply(agent("a", "x", &["s1"])),
                    Delete(agent("a", "x", &["s1"])),
                ],
                &["a/s1"],
            ),
            (
                "an agent without skills wakes none",
                vec![Apply(agent("a", "x", &[]))],
                &[],
            ),
            (
                "the same names in another namespace are other skills",
                vec![
                    Apply(agent("a", "x", &["s1"])),
                    Apply(agent("b", "x", &["s1"])),
                ],
                &["b/s1"],
            ),
        ];
        for (case, events, want) in cases {
            let mut users = SkillUsers::default();
            let (last, before) = events.split_last().unwrap();
            for event in before {
                users.on(event);
            }
            assert_eq!(woken(users.on(last)), *want, "{case}");
        }
    }

    #[test]
    fn a_relist_wakes_the_skills_of_agents_deleted_while_the_watch_was_down() {
        use watcher::Event::{Apply, Init, InitApply, InitDone};
        let mut users = SkillUsers::default();
        users.on(&Apply(agent("a", "kept", &["s1"])));
        users.on(&Apply(agent("a", "gone", &["s2"])));
        assert!(users.on(&Init).is_empty());
        assert!(users.on(&InitApply(agent("a", "kept", &["s1"]))).is_empty());
        assert_eq!(woken(users.on(&InitDone)), ["a/s2"]);
        assert_eq!(users.users_of("a", "s1"), ["kept"]);
        assert!(users.users_of("a", "s2").is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn users_are_told_once_the_first_list_is_in_and_a_watch_that_never_lists_is_an_error() {
        let index = AgentSkills::default();
        let before = index.users_of("a", "echoing").await;
        assert!(
            matches!(before, Err(Error::NotYetListed("Agents"))),
            "{before:?}"
        );

        index.apply(&watcher::Event::Init);
        index.apply(&watcher::Event::InitApply(agent(
            "a",
            "writer",
            &["echoing"],
        )));
        let waiting = tokio::spawn({
            let index = index.clone();
            async move { index.users_of("a", "echoing").await }
        });
        tokio::task::yield_now().await;
        index.apply(&watcher::Event::InitDone);
        assert_eq!(waiting.await.unwrap().unwrap(), ["writer"]);
    }

    #[test]
    fn the_users_of_a_skill_are_the_agents_of_its_namespace_that_name_it() {
        use watcher::Event::Apply;
        let mut users = SkillUsers::default();
        for event in [
            Apply(agent("a", "writer", &["echoing"])),
            Apply(agent("a", "plain", &[])),
            Apply(agent("a", "reader", &["other", "echoing"])),
            Apply(agent("b", "elsewhere", &["echoing"])),
        ] {
            users.on(&event);
        }
        assert_eq!(users.users_of("a", "echoing"), ["reader", "writer"]);
        assert!(users.users_of("a", "unnamed").is_empty());
        assert!(users.users_of("c", "echoing").is_empty());
    }
}
