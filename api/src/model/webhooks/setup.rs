//! What a user sets at the sender for a webhook trigger of each type, said in the trigger's
//! REST shape (`webhook_setup`) and the console.

use agentarea_crds::trigger::WebhookType;

/// Where to paste the trigger's URL and secret for `kind`; `url` is the webhook's path on the
/// api's public address.
pub fn setup(kind: WebhookType, url: &str) -> String {
    match kind {
        WebhookType::Generic => format!(
            "POST to {url} with X-AgentArea-Timestamp (unix seconds) and X-AgentArea-Signature: sha256=<hex HMAC-SHA256 of \"<timestamp>.<body>\" keyed with webhook_secret>."
        ),
        WebhookType::Github => format!(
            "GitHub: Settings > Webhooks > Add webhook. Payload URL: {url}; Content type: application/json; Secret: webhook_secret. GitHub's ping is answered and starts nothing; X-GitHub-Event is webhook.event in the input template and conditions."
        ),
        WebhookType::Slack => format!(
            "Slack: your app's Event Subscriptions > Request URL: {url} (Slack's url_verification challenge is answered). Slack signs with your app's Signing Secret (Basic Information): set it as this trigger's webhook_secret (PATCH the trigger) if it was not given when the trigger was made."
        ),
        WebhookType::Stripe => format!(
            "Stripe: Developers > Webhooks > Add endpoint with URL {url}. Stripe gives the endpoint a signing secret (whsec_...): set it as this trigger's webhook_secret (PATCH the trigger) if it was not given when the trigger was made."
        ),
        WebhookType::Telegram => format!(
            "Telegram: call setWebhook with url={url} and secret_token=webhook_secret (A-Z, a-z, 0-9, _ and - only, as the generated one is)."
        ),
        WebhookType::Discord => format!(
            "Discord: Developer Portal > your application > General Information > Interactions Endpoint URL: {url}. This trigger's webhook_secret must be the application's Public Key from the same page; Discord's PING is answered."
        ),
    }
}
