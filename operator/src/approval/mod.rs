//! Tool calls that wait for a person: one home for the rules both the Agent controller and a
//! task's run apply, decided without I/O.
//!
//! | module | what it decides |
//! | --- | --- |
//! | [`policy`] | whether calls to one of an agent's tools need approval (its listing, its server's hints, the agent's `toolApproval.policy`); the Agent controller records the answer on each resolved tool |
//! | [`plan`] | what a run does with each call the model asks for: make it, reject it (and what the model reads), or wait; whether a wait is over |
//! | [`wait`] | what a wait records (`status.pendingApprovals`, its deadline) and the decisions taken on it, under the policy of one run ([`wait::ApprovalPolicy`]) |

pub mod plan;
pub mod policy;
pub mod wait;
