//! Reading a key of a Secret, the one way every controller and the task runner do it (model API
//! keys, remote servers' headers, webhook secrets).

use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use agentarea_crds::reasons;

use crate::problem::Problem;

/// The text of `key` in Secret `name`, or the problem that keeps it from being read.
pub async fn secret_value(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<String, Problem> {
    let fetched = Api::<Secret>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await;
    key_value(fetched, name, key)
}

/// What a GET of Secret `name` gave, read for `key`.
pub fn key_value(
    fetched: Result<Option<Secret>, kube::Error>,
    name: &str,
    key: &str,
) -> Result<String, Problem> {
    let secret = fetched
        .map_err(|e| Problem::new(reasons::SECRET_UNREADABLE, format!("Secret {name}: {e}")))?
        .ok_or_else(|| {
            Problem::new(
                reasons::SECRET_NOT_FOUND,
                format!("Secret {name} not found"),
            )
        })?;
    let bytes = secret
        .data
        .and_then(|mut data| data.remove(key))
        .ok_or_else(|| {
            Problem::new(
                reasons::SECRET_KEY_NOT_FOUND,
                format!("Secret {name} has no key {key}"),
            )
        })?;
    String::from_utf8(bytes.0).map_err(|_| {
        Problem::new(
            reasons::SECRET_KEY_NOT_TEXT,
            format!("Secret {name} key {key} is not UTF-8"),
        )
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::ByteString;
    use kube::core::Status;

    use super::*;

    fn secret(data: &[(&str, &[u8])]) -> Secret {
        Secret {
            data: Some(
                data.iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.to_vec())))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..Secret::default()
        }
    }

    #[test]
    fn a_key_is_read_or_the_reason_it_cannot_be_is_given() {
        let forbidden = || {
            Err(kube::Error::Api(
                Status::failure("secrets \"keys\" is forbidden", "Forbidden")
                    .with_code(403)
                    .boxed(),
            ))
        };
        type Case = (
            &'static str,
            fn() -> Result<Option<Secret>, kube::Error>,
            Result<&'static str, (&'static str, &'static str)>,
        );
        let cases: &[Case] = &[
            (
                "present",
                || Ok(Some(secret(&[("token", b"s3cret")]))),
                Ok("s3cret"),
            ),
            (
                "empty value",
                || Ok(Some(secret(&[("token", b"")]))),
                Ok(""),
            ),
            (
                "unreadable",
                forbidden,
                Err((reasons::SECRET_UNREADABLE, "Secret keys: ")),
            ),
            (
                "missing secret",
                || Ok(None),
                Err((reasons::SECRET_NOT_FOUND, "Secret keys not found")),
            ),
            (
                "missing key",
                || Ok(Some(secret(&[("other", b"x")]))),
                Err((
                    reasons::SECRET_KEY_NOT_FOUND,
                    "Secret keys has no key token",
                )),
            ),
            (
                "no data at all",
                || Ok(Some(Secret::default())),
                Err((
                    reasons::SECRET_KEY_NOT_FOUND,
                    "Secret keys has no key token",
                )),
            ),
            (
                "not text",
                || Ok(Some(secret(&[("token", &[0xff, 0xfe])]))),
                Err((
                    reasons::SECRET_KEY_NOT_TEXT,
                    "Secret keys key token is not UTF-8",
                )),
            ),
        ];
        for (case, fetched, want) in cases {
            match (key_value(fetched(), "keys", "token"), want) {
                (Ok(value), Ok(want)) => assert_eq!(value, *want, "{case}"),
                (Err(problem), Err((reason, message))) => {
                    assert_eq!(problem.reason, *reason, "{case}");
                    assert!(
                        problem.message.starts_with(message),
                        "{case}: {}",
                        problem.message
                    );
                }
                (got, _) => panic!("{case}: got {got:?}, want {want:?}"),
            }
        }
    }
}
