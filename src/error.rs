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
    /// An argument outside what it accepts: a command-line flag (`arg` is
    /// the flag, e.g. `--top-k`) or a library parameter (`arg` names it,
    /// e.g. `k`, `vectors`, `query`).
    #[error("invalid argument: {why}")]
    Argument { arg: String, why: String },
    /// A file or tree the user handed in that leann cannot use as asked: a
    /// relevance or ground-truth file, a batch query file, a source tree
    /// that is not a directory or holds nothing to index.
    #[error("invalid input: {why}")]
    Input { path: PathBuf, why: String },
    /// The index (or the call) is not in a state where the operation can
    /// run: a search of chunks on a bare-vector index, a write without the
    /// writer lock, a compaction needing text the tree no longer has.
    #[error("{why}")]
    Precondition { why: String },
    /// An embedding or rerank model cannot be loaded or run, or does not
    /// match the index (tokenizer, weights, shapes, the model id).
    #[error("model: {why}")]
    Model { why: String },
    /// `git` failed, or printed what leann cannot read (`index update --git`).
    #[error("{why}")]
    Git { root: PathBuf, why: String },
    /// The file-system watch on a tree could not start, or stopped.
    #[error("{why}")]
    Watch { root: PathBuf, why: String },
    /// An I/O backend is not available here (io_uring blocked or missing)
    /// or refused a batch.
    #[error("{why}")]
    IoBackend { backend: &'static str, why: String },
    /// A size a format or structure cannot hold (4 GiB text offsets, 2^32
    /// nodes, a node larger than its sector).
    #[error("{why}")]
    Limit { why: String },
    /// The lexical (tantivy) index failed at `op`.
    #[error("lexical index: {op}: {why}")]
    Lexical { op: &'static str, why: String },
    /// An invariant of leann itself does not hold: a bug, never the user's input.
    #[error("internal error: {0} (a bug in leann: please report it)")]
    Internal(String),
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
    /// An `index create` failed after a checkpoint: its work is kept in
    /// `kept` for `--resume` (SPEC.md C-5).
    #[error("{source}; the work done so far is kept in {kept}: rerun with --resume to continue it, or with --force to discard it (a resume refused for a changed tree, config, model or build, or for damaged work, can only be discarded)")]
    Resumable {
        #[source]
        source: Box<Error>,
        kept: PathBuf,
    },
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
    pub fn argument(arg: impl Into<String>, why: impl Into<String>) -> Self {
        Error::Argument {
            arg: arg.into(),
            why: why.into(),
        }
    }
    pub fn input(path: impl Into<PathBuf>, why: impl Into<String>) -> Self {
        Error::Input {
            path: path.into(),
            why: why.into(),
        }
    }
    pub fn precondition(why: impl Into<String>) -> Self {
        Error::Precondition { why: why.into() }
    }
    pub fn model(why: impl Into<String>) -> Self {
        Error::Model { why: why.into() }
    }
    pub fn git(root: impl Into<PathBuf>, why: impl Into<String>) -> Self {
        Error::Git {
            root: root.into(),
            why: why.into(),
        }
    }
    pub fn watch(root: impl Into<PathBuf>, why: impl Into<String>) -> Self {
        Error::Watch {
            root: root.into(),
            why: why.into(),
        }
    }
    pub fn io_backend(backend: &'static str, why: impl Into<String>) -> Self {
        Error::IoBackend {
            backend,
            why: why.into(),
        }
    }
    pub fn limit(why: impl Into<String>) -> Self {
        Error::Limit { why: why.into() }
    }
    pub fn internal(why: impl Into<String>) -> Self {
        Error::Internal(why.into())
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
