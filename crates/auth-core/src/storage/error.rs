//! Storage's own error, so that no database crate's type crosses into the
//! use cases: what kind of failure it was, and its text for the log.

use std::fmt;

/// Why storage could not answer. The kind decides what the caller does
/// (`accounts::Trouble`: try again later, or a 500); the text goes only to
/// the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageError {
    /// Busy for a moment (another writer holds the lock): the same request
    /// may well succeed soon.
    Busy(String),
    /// Failing until an operator acts: a full disk, a read-only file, I/O
    /// errors, a file that cannot be opened.
    Unavailable(String),
    /// A bug or corruption.
    Internal(String),
}

pub type Result<T> = std::result::Result<T, StorageError>;

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::Busy(cause)
            | StorageError::Unavailable(cause)
            | StorageError::Internal(cause) => f.write_str(cause),
        }
    }
}

impl From<rusqlite::Error> for StorageError {
    /// What can pass by itself (locked, busy) or once an operator acts
    /// (disk full, read-only file, I/O errors) is told apart from the rest
    /// (corruption, a bug). Either way the SQLite error text is the cause.
    fn from(error: rusqlite::Error) -> StorageError {
        use rusqlite::ErrorCode as Code;
        let cause = match &error {
            rusqlite::Error::SqliteFailure(failure, _) => {
                format!("database: {error} (SQLite code {})", failure.extended_code)
            }
            _ => format!("database: {error}"),
        };
        match error.sqlite_error_code() {
            Some(Code::DatabaseBusy | Code::DatabaseLocked) => StorageError::Busy(cause),
            Some(Code::DiskFull | Code::ReadOnly | Code::SystemIoFailure | Code::CannotOpen) => {
                StorageError::Unavailable(cause)
            }
            _ => StorageError::Internal(cause),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::ffi;

    #[test]
    fn sqlite_failures_that_can_pass_are_told_from_the_rest() {
        let failure =
            |code| StorageError::from(rusqlite::Error::SqliteFailure(ffi::Error::new(code), None));
        for code in [
            ffi::SQLITE_FULL,
            ffi::SQLITE_READONLY,
            ffi::SQLITE_IOERR,
            ffi::SQLITE_CANTOPEN,
        ] {
            assert!(
                matches!(failure(code), StorageError::Unavailable(_)),
                "{code}"
            );
        }
        assert!(matches!(failure(ffi::SQLITE_BUSY), StorageError::Busy(_)));
        let StorageError::Internal(cause) = failure(ffi::SQLITE_CORRUPT) else {
            panic!("corruption is internal");
        };
        assert!(cause.starts_with("database: "));
    }
}
