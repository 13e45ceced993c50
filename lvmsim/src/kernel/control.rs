//! The control socket (`DIR/control`): other lvmsim processes ask a running
//! kernel for its state or tell it to stop. One JSON request per
//! connection, one JSON reply line back.

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
}

/// What the kernel answers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reply {
    /// The state asked for.
    Status(Status),
    /// The images are flushed and the devices unmounted; the process ends.
    Stopped,
    /// The request was refused, and why.
    Refused(String),
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
    s.set_read_timeout(Some(ANSWER_WAIT))
        .context("setting the control socket's timeout")?;
    let mut line = serde_json::to_string(req)?;
    line.push('\n');
    s.write_all(line.as_bytes())
        .with_context(|| format!("{}: sending the request", path.display()))?;
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

/// Reads one request from `s` (a client that sends nothing within a few
/// seconds, or garbage, gets no answer).
pub(crate) fn read_request(s: &UnixStream) -> Option<Request> {
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    serde_json::from_str(&line).ok()
}

/// Sends `reply` on `s` (a client that went away is not an error).
pub(crate) fn answer(mut s: &UnixStream, reply: &Reply) {
    if let Ok(mut line) = serde_json::to_string(reply) {
        line.push('\n');
        let _ = s.write_all(line.as_bytes());
    }
}
