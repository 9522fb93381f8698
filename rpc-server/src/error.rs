//! The one error type of the server and the response code each variant maps to.
use thiserror::Error;

/// Response code of a successful call.
pub const CODE_OK: i32 = 0;
/// Response code of a request the client must fix.
pub const CODE_BAD_REQUEST: i32 = 400;
/// Response code of a failure on our side (storage).
pub const CODE_INTERNAL: i32 = 500;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// A request field is malformed; `field` is the IDL field's name as a
    /// client would write it, so the message points at what to fix.
    #[error("invalid {field}: {reason}")]
    InvalidArgument { field: &'static str, reason: String },

    /// The store cannot be reached right now (not connected, or it refused
    /// the command before running it). Nothing was stored: safe to retry.
    #[error("storage unavailable: {0}")]
    StorageUnavailable(String),

    /// The command was sent but no answer came in time (or the connection
    /// dropped before it came): a Send may or may not have been stored.
    #[error("storage timeout: {0}")]
    StorageTimeout(String),

    /// The store answered, but with an error or with data we cannot read.
    #[error("storage error: {0}")]
    Storage(String),
}

/// What kind of failure an error is, without its message: what metrics
/// count by, so that no one reads an error's text to classify it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidArgument,
    StorageUnavailable,
    StorageTimeout,
    Storage,
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidArgument { .. } => ErrorKind::InvalidArgument,
            Error::StorageUnavailable(_) => ErrorKind::StorageUnavailable,
            Error::StorageTimeout(_) => ErrorKind::StorageTimeout,
            Error::Storage(_) => ErrorKind::Storage,
        }
    }

    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidArgument {
            field,
            reason: reason.into(),
        }
    }

    /// The `Code` a response carries for this error.
    pub fn code(&self) -> i32 {
        match self {
            Error::InvalidArgument { .. } => CODE_BAD_REQUEST,
            Error::StorageUnavailable(_) | Error::StorageTimeout(_) | Error::Storage(_) => {
                CODE_INTERNAL
            }
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_messages() {
        let bad = Error::invalid("chat", "must contain exactly one ':'");
        assert_eq!(bad.code(), 400);
        assert_eq!(
            bad.to_string(),
            "invalid chat: must contain exactly one ':'"
        );
        let down = Error::StorageUnavailable("connection refused".into());
        assert_eq!(down.code(), 500);
        assert_eq!(down.to_string(), "storage unavailable: connection refused");
        assert_eq!(Error::Storage("x".into()).code(), 500);
        assert_eq!(down.kind(), ErrorKind::StorageUnavailable);
        assert_eq!(bad.kind(), ErrorKind::InvalidArgument);
    }
}
