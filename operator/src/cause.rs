//! Errors told the way a person acts on them: the innermost cause ("connection refused", "failed
//! to lookup address information"), without the wrappers' words or Rust type names. Status
//! conditions, events and tool results all use it.

/// An error and, through `source`, its causes.
pub type Cause<'a> = &'a (dyn std::error::Error + 'static);

/// The message of the last error in `error`'s source chain, as a person would say it.
pub fn innermost(error: Cause<'_>) -> String {
    let last = chain(error).last().unwrap_or(error);
    plain_words(&last.to_string())
}

/// Whether the peer refused the connection: nothing was sent, so trying again is safe.
pub fn refused(error: Cause<'_>) -> bool {
    chain(error).any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
    })
}

/// Whether no connection was ever made: refused, or no address for the name, or the HTTP client's
/// own connect error.
pub fn never_connected(error: Cause<'_>) -> bool {
    refused(error)
        || chain(error).any(|cause| {
            cause
                .downcast_ref::<reqwest::Error>()
                .is_some_and(reqwest::Error::is_connect)
        })
}

/// `error` and its sources, outermost first.
fn chain(error: Cause<'_>) -> impl Iterator<Item = Cause<'_>> {
    type HttpError = rmcp::transport::streamable_http_client::StreamableHttpError<reqwest::Error>;
    std::iter::successors(Some(error), |cause| {
        // rmcp wraps the HTTP client's error without naming it as the source.
        match cause.downcast_ref::<HttpError>() {
            Some(HttpError::Client(client)) => Some(client as Cause<'_>),
            _ => cause.source(),
        }
    })
}

/// Drops what only a programmer reads from an error message: the OS error number and any Rust
/// type path; starts it in lower case to follow "could not connect to URL:".
fn plain_words(message: &str) -> String {
    let mut text = message.to_string();
    if let Some(at) = text.find(" (os error ") {
        text.truncate(at);
    }
    let text: String = text
        .split(' ')
        .filter(|word| !word.contains("::"))
        .collect::<Vec<_>>()
        .join(" ");
    let mut chars = text.chars();
    match chars.next() {
        Some(first) if chars.clone().next().is_some_and(char::is_lowercase) => {
            first.to_lowercase().chain(chars).collect()
        }
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_keep_the_cause_and_drop_what_only_a_programmer_reads() {
        let cases = [
            ("Connection refused (os error 111)", "connection refused"),
            (
                "failed to lookup address information: Name or service not known",
                "failed to lookup address information: Name or service not known",
            ),
            (
                "Transport [rmcp::transport::worker::WorkerTransport<X>] error: boom",
                "transport error: boom",
            ),
            ("HTTP 404 Not Found", "HTTP 404 Not Found"),
            ("", ""),
        ];
        for (message, want) in cases {
            assert_eq!(plain_words(message), want, "{message:?}");
        }
    }

    #[test]
    fn the_innermost_cause_of_a_chain_is_told() {
        static REFUSED: std::sync::LazyLock<std::io::Error> = std::sync::LazyLock::new(|| {
            std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "Connection refused (os error 111)",
            )
        });
        let wrapped = Wrapper("error sending request for url (http://x/)", &*REFUSED);
        assert_eq!(innermost(&wrapped), "connection refused");
        assert_eq!(innermost(&*REFUSED), "connection refused");
    }

    #[test]
    fn a_refusal_is_found_anywhere_in_the_chain_and_nothing_else_is_one() {
        static REFUSED: std::sync::LazyLock<std::io::Error> =
            std::sync::LazyLock::new(|| std::io::ErrorKind::ConnectionRefused.into());
        static RESET: std::sync::LazyLock<std::io::Error> =
            std::sync::LazyLock::new(|| std::io::ErrorKind::ConnectionReset.into());
        let cases: [(&str, Cause<'_>, bool); 4] = [
            ("refused", &*REFUSED, true),
            (
                "refused, wrapped",
                &Wrapper("error sending request", &*REFUSED),
                true,
            ),
            ("reset (the request may have been read)", &*RESET, false),
            (
                "reset, wrapped",
                &Wrapper("error sending request", &*RESET),
                false,
            ),
        ];
        for (case, error, want) in cases {
            assert_eq!(refused(error), want, "{case}");
        }
    }

    #[derive(Debug)]
    struct Wrapper(&'static str, &'static (dyn std::error::Error + 'static));

    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Wrapper {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(self.1)
        }
    }
}
