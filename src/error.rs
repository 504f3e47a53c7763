//! Library errors. The gRPC status mapping lives in one place: `server::status`.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    /// The caller sent something we cannot label; the message says what to fix.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The input is well formed but over a configured limit.
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// The durable store failed; nothing was acknowledged.
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// The engine is shutting down or a worker died.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Too many calls in flight; the caller may retry later.
    #[error("overloaded: {0}")]
    Overloaded(String),
}

impl Error {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }
    pub fn limit(msg: impl Into<String>) -> Self {
        Error::LimitExceeded(msg.into())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
