//! The api's configuration, from flags or the environment (`--help` lists both).

use std::net::SocketAddr;

use agentarea_support::LogFormat;
use clap::{Args, Parser, Subcommand};

use crate::auth::AuthSettings;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "agentarea-api",
    version,
    about = "AgentArea's /v1 REST API, served from the custom resources"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: Config,
}

#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Print an HS256 token signed with --jwt-secret, for local use and scripts.
    Token {
        /// The caller's id (`sub`).
        #[arg(long, default_value = "developer")]
        subject: String,
        /// The workspace the token is for.
        #[arg(long, default_value = "default")]
        workspace: String,
        /// Validity in hours.
        #[arg(long, default_value_t = 24)]
        ttl_hours: u64,
    },
    /// Print the ClusterRole that workspace namespaces bind (as YAML, for `kubectl apply -f -`)
    /// where the Helm chart does not install it.
    WorkspaceRole {
        /// Its name (the api's --workspace-role).
        #[arg(long, default_value = "agentarea-workspace")]
        name: String,
    },
}

#[derive(Args, Debug, Clone)]
pub struct Config {
    /// Address the HTTP API listens on.
    #[arg(long, env = "AGENTAREA_LISTEN_ADDR", default_value = "0.0.0.0:8000")]
    pub listen_addr: SocketAddr,

    /// Log format: `text` or `json`.
    #[arg(long, env = "AGENTAREA_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,

    #[command(flatten)]
    pub auth: AuthConfig,

    /// The egress policy, as the operator has it: targets it would refuse are refused at create
    /// time, where that needs no name resolution.
    #[command(flatten)]
    pub egress: agentarea_support::egress::EgressArgs,

    /// What the api writes into every workspace namespace.
    #[command(flatten)]
    pub workspaces: crate::workspace::provision::WorkspaceArgs,

    /// Request rates and open streams per workspace and caller.
    #[command(flatten)]
    pub limits: crate::limits::LimitArgs,

    /// Where the api finds how many replicas share those limits.
    #[command(flatten)]
    pub replicas: crate::replicas::ReplicaArgs,

    /// Where the web console sends people who are not signed in (e.g. Kratos' self-service browser
    /// login, `https://auth.example.com/self-service/login/browser`); without it the console
    /// offers only a token field.
    #[arg(long, env = "AGENTAREA_CONSOLE_LOGIN_URL")]
    pub console_login_url: Option<String>,

    /// Origins whose web pages may call the api from a browser (comma separated,
    /// `scheme://host[:port]` exactly as browsers send them; credentials allowed). None by default.
    #[arg(long, env = "AGENTAREA_CORS_ALLOWED_ORIGINS", value_delimiter = ',', value_parser = crate::cors::parse_origin)]
    pub cors_allowed_origins: Vec<axum::http::HeaderValue>,

    /// Refuse PATCH and DELETE of objects a GitOps engine (Flux, Argo CD, or a pipeline that
    /// labels them `agentarea.io/managed-by: gitops`) applies from Git, naming the owner: the
    /// engine would undo such a change at its next reconcile. `false` lets the api change them.
    #[arg(long, env = "AGENTAREA_GITOPS_READ_ONLY", default_value_t = true, action = clap::ArgAction::Set)]
    pub gitops_read_only: bool,
}

#[derive(Args, Debug, Clone)]
pub struct AuthConfig {
    /// Shared secret for HS256 bearer tokens.
    #[arg(long, env = "AGENTAREA_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// JWKS URL for RS256/ES256 bearer tokens (e.g. Kratos' or your IdP's).
    #[arg(long, env = "AGENTAREA_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// Required `iss` of bearer tokens.
    #[arg(long, env = "AGENTAREA_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Required `aud` of bearer tokens.
    #[arg(long, env = "AGENTAREA_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// The claim that names the caller's workspace.
    #[arg(long, env = "AGENTAREA_WORKSPACE_CLAIM", default_value = "workspace")]
    pub workspace_claim: String,
    /// Ory Kratos public URL; session cookies are checked against its `/sessions/whoami`.
    #[arg(long, env = "AGENTAREA_KRATOS_URL")]
    pub kratos_url: Option<String>,
    /// The Kratos identity trait (or public metadata key) that names the workspace.
    #[arg(
        long,
        env = "AGENTAREA_KRATOS_WORKSPACE_TRAIT",
        default_value = "workspace"
    )]
    pub kratos_workspace_trait: String,
    /// Name of the Kratos session cookie.
    #[arg(
        long,
        env = "AGENTAREA_KRATOS_COOKIE",
        default_value = "ory_kratos_session"
    )]
    pub kratos_cookie: String,
}

impl AuthConfig {
    pub fn settings(&self) -> AuthSettings {
        AuthSettings {
            jwt_secret: self.jwt_secret.clone(),
            jwks_url: self.jwks_url.clone(),
            issuer: self.jwt_issuer.clone(),
            audience: self.jwt_audience.clone(),
            workspace_claim: self.workspace_claim.clone(),
            kratos_url: self.kratos_url.clone(),
            kratos_workspace_trait: self.kratos_workspace_trait.clone(),
            kratos_cookie: self.kratos_cookie.clone(),
        }
    }
}
