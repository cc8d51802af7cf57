//! What every handler shares.

use std::sync::Arc;

use kube::Client;

use crate::auth::Authenticator;

#[derive(Clone)]
pub struct AppState {
    pub client: Client,
    pub auth: Arc<Authenticator>,
}
