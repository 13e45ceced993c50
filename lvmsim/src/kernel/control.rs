//! The control socket (`DIR/control`): other lvmsim processes ask a running
//! kernel for its state or tell it to stop. One JSON request per
//! connection, one JSON reply line back; except a change of the VGs
//! ([`Transaction`]): `begin` suspends the devices, the command changes
//! the images, `commit` on the same connection reloads and resumes them.

use super::table::Change;
use super::Status;
use crate::error::{Error, Result, ResultExt};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Request {
    /// The kernel's state.
    Status,
    /// Flush, unmount and end (refused while a device is open).
    Stop,
    /// A command is about to change the VGs: suspend every device (I/O
    /// waits) until the `commit` on this connection, or until it closes.
    Begin,
    /// The command is done: rescan the images, apply `changes` to the
    /// active LVs (and activate the LVs that are new, with
    /// `activate_new`), load, reload and remove devices as lvm2 would,
    /// then resume.
    Commit {
        /// Activations and deactivations asked for.
        changes: Vec<Change>,
        /// Activate the LVs the command created.
        activate_new: bool,
        /// lvm2 polls the merges the reload starts to their end (not
        /// with `--poll n`).
        #[serde(default = "yes")]
        poll: bool,
    },
    /// `dmsetup suspend|resume|remove NAME` on one device.
    Dm {
        /// What to do.
        dm: super::DmOp,
        /// The device-mapper name.
        name: String,
    },
}

fn yes() -> bool {
    true
}

/// What the kernel answers.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reply {
    /// The state asked for.
    Status(Status),
    /// The images are flushed and the devices unmounted; the process ends.
    Stopped,
    /// The request was refused, and why.
    Refused(String),
    /// The devices are suspended (answer to `begin`).
    Ready,
    /// The devices are reloaded and resumed: the steps as `lvm2 -v`
    /// prints them (answer to `commit`).
    Changed(Vec<String>),
}

/// How long a client waits for an answer (a stop flushes the images).
const ANSWER_WAIT: Duration = Duration::from_secs(60);

/// Sends `req` to the kernel whose directory is `dir` and returns its reply.
///
/// # Errors
/// [`Error::Refused`] when no kernel serves `dir` (its control socket is
/// missing or nobody listens), I/O errors of the exchange.
pub fn ask(dir: &Path, req: &Request) -> Result<Reply> {
    let path = super::control_path(dir);
    let mut s = UnixStream::connect(&path).map_err(|e| {
        Error::Refused(format!(
            "no lvmsim kernel runs in {} ({}: {e})",
            dir.display(),
            path.display()
        ))
    })?;
    let mut line = serde_json::to_string(req)?;
    line.push('\n');
    s.write_all(line.as_bytes())
        .with_context(|| format!("{}: sending the request", path.display()))?;
    receive(&s, &path)
}

/// Reads one request from `s` (a client that sends nothing within a few
/// seconds, or garbage, gets no answer).
pub(crate) fn read_request(s: &UnixStream) -> Option<Request> {
    read_request_within(s, Some(Duration::from_secs(5)))
}

/// Reads one request from `s`, waiting at most `wait` (forever if `None`).
pub(crate) fn read_request_within(s: &UnixStream, wait: Option<Duration>) -> Option<Request> {
    s.set_read_timeout(wait).ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    serde_json::from_str(&line).ok()
}

/// A change of the VGs under a running kernel: while it is open the
/// kernel's devices are suspended (their I/O waits), so the command can
/// change the images the kernel serves; [`Transaction::commit`] makes the
/// kernel load the devices of the changed VGs, and a transaction dropped
/// without a commit (a command that failed, or died) makes it reload them
/// as the images now are, with no change of activation.
pub struct Transaction {
    stream: UnixStream,
    dir: std::path::PathBuf,
}

impl Transaction {
    /// Suspends the devices of the kernel serving `dir`.
    ///
    /// # Errors
    /// [`Error::Refused`] when no kernel serves `dir` or it refuses.
    pub fn begin(dir: &Path) -> Result<Transaction> {
        let path = super::control_path(dir);
        let mut s = UnixStream::connect(&path).map_err(|e| {
            Error::Refused(format!(
                "no lvmsim kernel runs in {} ({}: {e})",
                dir.display(),
                path.display()
            ))
        })?;
        send(&mut s, &Request::Begin, &path)?;
        match receive(&s, &path)? {
            Reply::Ready => Ok(Transaction {
                stream: s,
                dir: dir.to_owned(),
            }),
            Reply::Refused(m) => Err(Error::Refused(m)),
            other => Err(Error::Refused(format!(
                "{}: unexpected answer to begin: {other:?}",
                path.display()
            ))),
        }
    }

    /// Makes the kernel reload the devices after the command's changes;
    /// returns lvm2's verbose lines for the steps taken.
    ///
    /// # Errors
    /// [`Error::Refused`] with the kernel's reason when it cannot load the
    /// new devices (the devices are resumed as they were).
    ///
    /// `poll`: lvm2 polls the merges the reload starts to their end (see
    /// [`Request::Commit`]).
    pub fn commit(
        mut self,
        changes: Vec<Change>,
        activate_new: bool,
        poll: bool,
    ) -> Result<Vec<String>> {
        let path = super::control_path(&self.dir);
        send(
            &mut self.stream,
            &Request::Commit {
                changes,
                activate_new,
                poll,
            },
            &path,
        )?;
        match receive(&self.stream, &path)? {
            Reply::Changed(lines) => Ok(lines),
            Reply::Refused(m) => Err(Error::Refused(m)),
            other => Err(Error::Refused(format!(
                "{}: unexpected answer to commit: {other:?}",
                path.display()
            ))),
        }
    }
}

fn send(s: &mut UnixStream, req: &Request, path: &Path) -> Result<()> {
    let mut line = serde_json::to_string(req)?;
    line.push('\n');
    s.write_all(line.as_bytes())
        .with_context(|| format!("{}: sending the request", path.display()))
}

/// The kernel's answer; a suspend or a reload may take as long as the
/// flush of the images.
fn receive(s: &UnixStream, path: &Path) -> Result<Reply> {
    s.set_read_timeout(Some(ANSWER_WAIT))
        .context("setting the control socket's timeout")?;
    let mut answer = String::new();
    BufReader::new(s)
        .read_line(&mut answer)
        .with_context(|| format!("{}: reading the answer", path.display()))?;
    if answer.is_empty() {
        return Err(Error::Refused(format!(
            "{}: the kernel closed the connection without answering",
            path.display()
        )));
    }
    Ok(serde_json::from_str(&answer)?)
}

/// Sends `reply` on `s` (a client that went away is not an error).
pub(crate) fn answer(mut s: &UnixStream, reply: &Reply) {
    if let Ok(mut line) = serde_json::to_string(reply) {
        line.push('\n');
        let _ = s.write_all(line.as_bytes());
    }
}
