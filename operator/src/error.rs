//! Errors of a reconcile that the controller retries with back-off. Problems a user can fix
//! (a missing reference, an unreachable server) are not errors: they become status conditions
//! and events, and the object is reconciled again when the world changes.

#[derive(thiserror::Error, Debug)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("serializing: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("the object has no namespace")]
    NoNamespace,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
