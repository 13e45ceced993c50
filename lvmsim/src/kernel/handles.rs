//! The open files of the devices, one per FUSE file handle, and which of
//! them are being closed.
//!
//! A block device's open count drops before `close(2)` returns; through
//! FUSE the close is announced by a FLUSH, which `close(2)` waits for, and
//! the RELEASE that ends the handle comes after `close(2)` has returned.
//! So a status or a transaction waits for the releases of handles whose
//! close was announced ([`Handles::pending`]).
//!
//! But every `close(2)` of a descriptor sends a FLUSH, also the close of a
//! copy: a child spawned while a file is open inherits its descriptor and
//! closes it at `exec` (close-on-exec) or at its exit, and the handle,
//! still open in its opener, gets no release. A FLUSH therefore announces
//! the end of its handle only when it comes from the process that opened
//! it, or, once that process has closed its copy, from any process that
//! still held one (a descriptor handed to a child). A handle that serves
//! I/O after its FLUSH is not going away either. And a close announced
//! longer than [`super::RELEASE_WAIT`] ago is not waited for again.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// One open file of a device.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Handle {
    /// The device's id ([`super::table::Dev::id`]).
    dev: u64,
    /// The process (thread group) that opened it.
    opener: u32,
    /// The opener has closed its descriptor: the remaining holders' closes
    /// are the last ones.
    opener_closed: bool,
    /// When its end was announced, if it is going away.
    closing: Option<Instant>,
}

/// The open FUSE file handles.
#[derive(Debug, Default)]
pub(crate) struct Handles {
    /// The next handle's number (handles are never reused).
    next: u64,
    open: BTreeMap<u64, Handle>,
}

impl Handles {
    /// A new handle of device `dev`, opened by process `opener`.
    pub fn open(&mut self, dev: u64, opener: u32) -> u64 {
        self.next += 1;
        self.open.insert(
            self.next,
            Handle {
                dev,
                opener,
                opener_closed: false,
                closing: None,
            },
        );
        self.next
    }

    /// The device of handle `fh`, which serves a request now (it is not
    /// going away).
    pub fn used(&mut self, fh: u64) -> Option<u64> {
        let h = self.open.get_mut(&fh)?;
        h.closing = None;
        Some(h.dev)
    }

    /// Process `closer` closed a descriptor of handle `fh` at `now` (a
    /// FLUSH): the handle is going away if `closer` opened it or its
    /// opener has closed its own.
    pub fn flush(&mut self, fh: u64, closer: u32, now: Instant) {
        let Some(h) = self.open.get_mut(&fh) else {
            return;
        };
        if closer == h.opener {
            h.opener_closed = true;
        }
        if h.opener_closed {
            h.closing = Some(now);
        }
    }

    /// Handle `fh` ends (a RELEASE); its device's id.
    pub fn release(&mut self, fh: u64) -> Option<u64> {
        self.open.remove(&fh).map(|h| h.dev)
    }

    /// Whether a handle's end was announced at most `wait` before `now`
    /// and its release has not arrived.
    pub fn pending(&self, now: Instant, wait: Duration) -> bool {
        self.open
            .values()
            .filter_map(|h| h.closing)
            .any(|t| now.saturating_duration_since(t) <= wait)
    }
}

#[cfg(test)]
mod tests {
    use super::Handles;
    use std::time::{Duration, Instant};

    const WAIT: Duration = Duration::from_secs(1);

    /// The events FUSE delivers, in a given order.
    enum Ev {
        Open(u32),
        Io(u64),
        Flush(u64, u32),
        Release(u64),
    }

    /// Plays `events` (handles are numbered from 1 in order of opening)
    /// and returns whether a status would wait after each one.
    fn play(events: &[Ev]) -> Vec<bool> {
        let mut h = Handles::default();
        let now = Instant::now();
        events
            .iter()
            .map(|e| {
                match *e {
                    Ev::Open(p) => {
                        h.open(7, p);
                    }
                    Ev::Io(fh) => assert_eq!(h.used(fh), Some(7)),
                    Ev::Flush(fh, p) => h.flush(fh, p, now),
                    Ev::Release(fh) => assert_eq!(h.release(fh), Some(7)),
                }
                h.pending(now, WAIT)
            })
            .collect()
    }

    #[test]
    fn the_openers_close_is_waited_for_until_its_release() {
        use Ev::*;
        assert_eq!(
            play(&[Open(10), Io(1), Flush(1, 10), Release(1)]),
            [false, false, true, false]
        );
    }

    #[test]
    fn a_spawned_childs_close_of_its_copy_is_not_waited_for() {
        use Ev::*;
        // The child (20) closes its inherited copy at exec; the opener
        // keeps the file, then closes it.
        assert_eq!(
            play(&[Open(10), Flush(1, 20), Io(1), Flush(1, 10), Release(1)]),
            [false, false, false, true, false]
        );
    }

    #[test]
    fn a_descriptor_handed_to_a_child_is_waited_for_at_its_last_close() {
        use Ev::*;
        // The opener closes its copy first: that may be the last one and
        // is waited for, until the child's I/O shows the file in use; the
        // child's close then is the last.
        assert_eq!(
            play(&[Open(10), Flush(1, 10), Io(1), Flush(1, 20), Release(1)]),
            [false, true, false, true, false]
        );
    }

    #[test]
    fn handles_are_told_apart() {
        use Ev::*;
        // Two opens of one device: the end of one does not make the other
        // closing, and a copy's close of the other does not either.
        assert_eq!(
            play(&[Open(10), Open(11), Flush(2, 10), Flush(1, 10), Release(1)]),
            [false, false, false, true, false]
        );
    }

    #[test]
    fn a_close_whose_release_never_came_is_waited_for_once() {
        let mut h = Handles::default();
        let t0 = Instant::now();
        let fh = h.open(1, 10);
        h.flush(fh, 10, t0);
        assert!(h.pending(t0 + WAIT, WAIT));
        assert!(!h.pending(t0 + WAIT + Duration::from_millis(1), WAIT));
        assert_eq!(h.release(fh), Some(1));
        assert_eq!(h.release(fh), None);
        assert_eq!(h.used(fh), None);
    }
}
