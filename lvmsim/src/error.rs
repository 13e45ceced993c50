//! The library's error: what went wrong, in a form a caller can match on,
//! with lvm2's own message as its `Display`.
//!
//! # Exit codes
//! The `lvmsim` binary exits with lvm2's codes, chosen by [`Error::exit_code`]
//! from the error's class:
//!
//! | class | lvm2's name | code |
//! |---|---|---|
//! | the command line is invalid ([`Error::Usage`]) | `EINVALID_CMD_LINE` | 3 |
//! | anything else: a refusal, a missing VG or LV, corrupt or unreadable images, I/O | `ECMD_FAILED` | 5 |
//!
//! A closed output pipe is not an error (code 0), as with lvm2's tools.

use std::io;

/// Everything a command of this library can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The command line (or the options given to a library call) is
    /// invalid: lvm2 refuses it before looking at any device.
    #[error("{0}")]
    Usage(String),
    /// lvm2 refuses the request for what the devices hold (a name in use,
    /// no space, a merging snapshot...); the text is lvm2's message.
    #[error("{0}")]
    Refused(String),
    /// The on-disk metadata could not be read, or is corrupt; or a VG, LV
    /// or device named by the request does not exist
    /// ([`lvm_meta::Error::NotFound`]).
    #[error(transparent)]
    Meta(#[from] lvm_meta::Error),
    /// An LV's data could not be read or written as the kernel would: an
    /// invalid or full snapshot, a corrupt exception store, an image's I/O.
    #[error(transparent)]
    Cow(#[from] cow_engine::Error),
    /// An operating-system call failed; `context` says what was being done.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the file.
        context: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Another command holds the images (with `nowait`), or a lock could
    /// not be taken.
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
    /// Writing the command's output failed (a closed pipe, a full disk).
    #[error(transparent)]
    Output(#[from] io::Error),
    /// A simulated power loss stopped the command (see
    /// [`crate::context::WriteHooks`]).
    #[error("simulated crash before the end of {what} at {offset}")]
    SimulatedCrash {
        /// What was being written (image and structure).
        what: String,
        /// The byte offset of the cut write.
        offset: u64,
    },
    /// The command was asked to stop (a signal) and stopped at a safe
    /// point; the text says what was left and how it resumes.
    #[error("{0}")]
    Interrupted(String),
    /// An error with what was being done around it.
    #[error("{context}: {source}")]
    Context {
        /// What was being done.
        context: String,
        /// The error.
        source: Box<Error>,
    },
    /// A thin pool's metadata LV could not be read, or is corrupt.
    #[error("{pool}: thin pool metadata: {source}")]
    ThinMetadata {
        /// The pool (VG/LV).
        pool: String,
        /// What is wrong, at which metadata block.
        #[source]
        source: dm_pdata::Error,
    },
    /// A cache pool's metadata LV could not be read, or is corrupt.
    #[error("{pool}: cache pool metadata: {source}")]
    CacheMetadata {
        /// The cache pool (VG/LV).
        pool: String,
        /// What is wrong, at which metadata block.
        #[source]
        source: dm_pdata::Error,
    },
    /// An LV's writecache device (its cachevol) could not be read, or is
    /// corrupt.
    #[error("{lv}: writecache: {source}")]
    Writecache {
        /// The LV with the writecache (VG/LV).
        lv: String,
        /// What is wrong, at which byte of the cachevol.
        #[source]
        source: dm_pdata::writecache::Error,
    },
}

impl Error {
    /// lvm2's exit code for this error (see the module's table).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => 3,
            Error::Context { source, .. } => source.exit_code(),
            _ => 5,
        }
    }

    /// True when the error is a closed pipe on the output (`lvmsim cat |
    /// head`), which is not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        match self {
            Error::Output(e) | Error::Io { source: e, .. } => e.kind() == io::ErrorKind::BrokenPipe,
            Error::Context { source, .. } => source.is_broken_pipe(),
            _ => false,
        }
    }

    /// The VG, LV or device the request named and the devices do not hold,
    /// if that is the error.
    pub fn not_found(&self) -> Option<&lvm_meta::NotFound> {
        match self.root() {
            Error::Meta(lvm_meta::Error::NotFound(n)) => Some(n),
            _ => None,
        }
    }

    /// The error under any [`Error::Context`] layers.
    pub fn root(&self) -> &Error {
        match self {
            Error::Context { source, .. } => source.root(),
            e => e,
        }
    }
}

impl From<lvm_meta::NotFound> for Error {
    fn from(e: lvm_meta::NotFound) -> Error {
        Error::Meta(e.into())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Error {
        Error::Output(io::Error::other(e))
    }
}

/// The library's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds what was being done to an error (as `anyhow`'s `context`, typed).
pub trait ResultExt<T> {
    /// Wraps the error with `context`.
    fn context(self, context: impl Into<String>) -> Result<T>;
    /// Wraps the error with the context `f` makes (only on failure).
    fn with_context<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T>;
}

impl<T> ResultExt<T> for std::result::Result<T, io::Error> {
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.map_err(|source| Error::Io {
            context: context.into(),
            source,
        })
    }
    fn with_context<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|source| Error::Io {
            context: f().into(),
            source,
        })
    }
}

impl<T> ResultExt<T> for std::result::Result<T, Error> {
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.map_err(|source| Error::Context {
            context: context.into(),
            source: Box::new(source),
        })
    }
    fn with_context<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|source| Error::Context {
            context: f().into(),
            source: Box::new(source),
        })
    }
}

impl<T> ResultExt<T> for std::result::Result<T, lvm_meta::Error> {
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.map_err(Error::from).context(context)
    }
    fn with_context<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T> {
        self.map_err(Error::from).with_context(f)
    }
}

/// Returns an [`Error::Refused`] with lvm2's message, formatted.
macro_rules! bail {
    ($($t:tt)*) => {
        return Err($crate::error::Error::Refused(format!($($t)*)))
    };
}

/// An [`Error::Refused`] with lvm2's message, formatted.
macro_rules! refused {
    ($($t:tt)*) => {
        $crate::error::Error::Refused(format!($($t)*))
    };
}

pub(crate) use {bail, refused};
