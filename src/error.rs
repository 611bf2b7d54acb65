//! The one public error type of leann. Every variant carries the context a user
//! needs to act: the file and byte offset for format errors, the field for config
//! errors, the operation for I/O errors.

use std::path::PathBuf;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system I/O error, with the operation and path it happened on.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Bytes on disk do not decode: truncated, bit-flipped or not a leann file.
    #[error("corrupt {path} at byte offset {offset}: {what}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        what: String,
    },
    /// A file written by a newer (or unknown) major version.
    #[error("{path}: format version {found_major}.{found_minor} is not supported (this build reads major version {supported_major})")]
    UnsupportedVersion {
        path: PathBuf,
        found_major: u16,
        found_minor: u16,
        supported_major: u16,
    },
    /// An index uses features this build does not know (SPEC.md F-3).
    #[error("{path}: the index uses {what} features {bits:#x} that this build of leann does not know{hint}")]
    UnsupportedFeatures {
        path: PathBuf,
        what: &'static str,
        bits: u32,
        hint: &'static str,
    },
    /// Invalid caller input (vectors, queries, parameters).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Invalid configuration: names the field.
    #[error("invalid config field `{field}`: {why}")]
    Config { field: String, why: String },
    /// Another process holds the writer lock of an index (SPEC.md L-2).
    #[error("index {dir} is locked by another writer, {holder}; gave up after {waited_ms} ms (wait longer with --wait-lock SECS)")]
    Locked {
        dir: PathBuf,
        holder: String,
        waited_ms: u64,
    },
    /// The index was replaced, under a long-lived process, by one that
    /// process cannot use (another model).
    #[error("{dir}: {why}")]
    Replaced { dir: PathBuf, why: String },
    /// The embedding server at `endpoint` failed this request: unreachable,
    /// silent past the timeout, or its reply was refused (SPEC.md Z-2).
    #[error("embedding server {endpoint}: {why}")]
    Server {
        endpoint: String,
        fault: ServerFault,
        why: String,
    },
    /// A previous durable write failed; the index refuses writes until reopened.
    #[error("index is poisoned after a failed write ({0}); reopen it")]
    Poisoned(String),
}

/// How an embedding server failed (`Error::Server`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerFault {
    /// The socket failed (connect, send or receive).
    Unreachable,
    /// No reply within the configured timeout.
    Timeout,
    /// A reply leann refuses: malformed, too large, wrong model, dimension
    /// or count, NaN or all-zero vectors.
    BadReply,
    /// The server answered with an error of its own.
    Refused,
}

impl Error {
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
    pub fn corrupt(path: impl Into<PathBuf>, offset: u64, what: impl Into<String>) -> Self {
        Error::Corrupt {
            path: path.into(),
            offset,
            what: what.into(),
        }
    }
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidInput(msg.into())
    }
    pub fn config(field: impl Into<String>, why: impl Into<String>) -> Self {
        Error::Config {
            field: field.into(),
            why: why.into(),
        }
    }
    pub fn server(endpoint: impl Into<String>, fault: ServerFault, why: impl Into<String>) -> Self {
        Error::Server {
            endpoint: endpoint.into(),
            fault,
            why: why.into(),
        }
    }
}
