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
    /// A reconcile that reads an index kept from a watch came before the watch's first list.
    #[error("the watch of {0} has not listed them yet")]
    NotYetListed(&'static str),
}

impl Error {
    /// A bounded CamelCase name for the failure, for the `reason` label of the failure metric:
    /// the apiserver's reason (`Conflict`, `Forbidden`, ...) where it gave one.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Kube(kube::Error::Api(status)) => match status.code {
                400 => "BadRequest",
                401 => "Unauthorized",
                403 => "Forbidden",
                404 => "NotFound",
                409 => "Conflict",
                410 => "Expired",
                422 => "Invalid",
                429 => "TooManyRequests",
                500..=599 => "ServerError",
                _ => "ApiError",
            },
            Self::Kube(_) => "ClientError",
            Self::Serialize(_) => "Serialize",
            Self::NoNamespace => "NoNamespace",
            Self::NotYetListed(_) => "NotYetListed",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
