//! The devices over NBD (the network block device protocol, as qemu,
//! `nbdcopy` and `nbd-client` speak it): the fixed newstyle handshake with
//! `NBD_OPT_GO`, `NBD_OPT_INFO`, `NBD_OPT_EXPORT_NAME`, `NBD_OPT_LIST` and
//! `NBD_OPT_ABORT`, then simple replies to READ, WRITE, FLUSH, TRIM and
//! DISC. Each visible LV is an export named `VG/LV`; an invalid snapshot's
//! export is read-only; TRIM is offered on the exports whose table takes
//! discards (a linear or striped LV, a thin LV). A connection in transmission counts as an open
//! handle of its device.
//!
//! Each connection has its own thread; a client that sends garbage or
//! vanishes ends only its own connection.

use super::table::{errno_of, Shared, Table};
use byteorder::{BigEndian as BE, ByteOrder};
use std::io::{self, Read, Write};
use std::sync::Arc;

/// `NBDMAGIC`, the server's first eight bytes.
const NBDMAGIC: u64 = 0x4e42_444d_4147_4943;
/// `IHAVEOPT`: newstyle negotiation, and the prefix of every option.
const IHAVEOPT: u64 = 0x4948_4156_454f_5054;
/// Magic of an option reply.
const REPLY_MAGIC: u64 = 0x0003_e889_0455_65a9;
/// Magic of a transmission request.
const REQUEST_MAGIC: u32 = 0x2560_9513;
/// Magic of a simple reply.
const SIMPLE_REPLY_MAGIC: u32 = 0x6744_6698;

/// Handshake flags: `NBD_FLAG_FIXED_NEWSTYLE`, `NBD_FLAG_NO_ZEROES`.
const FLAG_FIXED_NEWSTYLE: u16 = 1 << 0;
const FLAG_NO_ZEROES: u16 = 1 << 1;
/// The client's `NBD_FLAG_C_NO_ZEROES`.
const FLAG_C_NO_ZEROES: u32 = 1 << 1;

/// Options.
const OPT_EXPORT_NAME: u32 = 1;
const OPT_ABORT: u32 = 2;
const OPT_LIST: u32 = 3;
const OPT_INFO: u32 = 6;
const OPT_GO: u32 = 7;

/// Option replies.
const REP_ACK: u32 = 1;
const REP_SERVER: u32 = 2;
const REP_INFO: u32 = 3;
const REP_ERR_UNSUP: u32 = (1 << 31) + 1;
const REP_ERR_INVALID: u32 = (1 << 31) + 3;
const REP_ERR_UNKNOWN: u32 = (1 << 31) + 6;

/// `NBD_INFO_EXPORT`.
const INFO_EXPORT: u16 = 0;

/// Transmission flags.
const TFLAG_HAS_FLAGS: u16 = 1 << 0;
const TFLAG_READ_ONLY: u16 = 1 << 1;
const TFLAG_SEND_FLUSH: u16 = 1 << 2;
const TFLAG_SEND_TRIM: u16 = 1 << 5;

/// Commands.
const CMD_READ: u16 = 0;
const CMD_WRITE: u16 = 1;
const CMD_DISC: u16 = 2;
const CMD_FLUSH: u16 = 3;
const CMD_TRIM: u16 = 4;

/// Errors of a reply (Linux's numbers, as the protocol fixes them).
const EPERM: u32 = 1;
const EINVAL: u32 = 22;
const ENOSPC: u32 = 28;
const ENOTSUP: u32 = 95;

/// Longest option payload read (an export name is at most 4096 bytes).
const MAX_OPTION: u32 = 8192;
/// Longest read or write one request may ask for (the protocol's usual
/// 32 MiB cap).
const MAX_REQUEST: u32 = 32 << 20;

/// The exports: (name `VG/LV`, device id).
pub(crate) fn exports(t: &Table) -> Vec<(String, u64)> {
    t.devs
        .iter()
        .filter_map(|d| d.link.as_ref().map(|(vg, lv)| (format!("{vg}/{lv}"), d.id)))
        .collect()
}

fn read_u32(s: &mut impl Read) -> io::Result<u32> {
    let mut b = [0u8; 4];
    s.read_exact(&mut b)?;
    Ok(BE::read_u32(&b))
}

fn read_u64(s: &mut impl Read) -> io::Result<u64> {
    let mut b = [0u8; 8];
    s.read_exact(&mut b)?;
    Ok(BE::read_u64(&b))
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// Sends an option reply.
fn opt_reply(s: &mut impl Write, opt: u32, kind: u32, data: &[u8]) -> io::Result<()> {
    let mut h = [0u8; 20];
    BE::write_u64(&mut h[0..], REPLY_MAGIC);
    BE::write_u32(&mut h[8..], opt);
    BE::write_u32(&mut h[12..], kind);
    BE::write_u32(&mut h[16..], data.len() as u32);
    s.write_all(&h)?;
    s.write_all(data)?;
    s.flush()
}

/// Serves one client until it disconnects or misbehaves.
pub(crate) fn serve<S: Read + Write>(mut s: S, table: &Arc<Shared>) -> io::Result<()> {
    let mut hello = [0u8; 18];
    BE::write_u64(&mut hello[0..], NBDMAGIC);
    BE::write_u64(&mut hello[8..], IHAVEOPT);
    BE::write_u16(&mut hello[16..], FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES);
    s.write_all(&hello)?;
    s.flush()?;
    let client = read_u32(&mut s)?;
    let zeroes = client & FLAG_C_NO_ZEROES == 0;
    let Some((d, flags)) = negotiate(&mut s, table, zeroes)? else {
        return Ok(());
    };
    table.lock().open(d);
    let r = transmit(&mut s, table, d, flags);
    table.lock().close(d);
    r
}

/// The export `name` and its transmission flags.
fn export(table: &Shared, name: &str) -> Option<(u64, u64, u16)> {
    let mut t = table.lock();
    let list = exports(&t);
    let d = list
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, d)| *d)
        // A client naming no export gets the only one, if there is one.
        .or_else(|| (name.is_empty() && list.len() == 1).then(|| list[0].1))?;
    let mut flags = TFLAG_HAS_FLAGS | TFLAG_SEND_FLUSH;
    // TRIM is offered where the device takes discards (its table now).
    if t.takes_discards(d) {
        flags |= TFLAG_SEND_TRIM;
    }
    let i = t.index(d).ok()?;
    // An invalid snapshot, or a thin pool's own device (loaded read-only).
    let read_only = matches!(
        t.devs[i].thin,
        Some(super::thin::ThinIo::Pool {
            writable: false,
            ..
        })
    );
    if t.invalid(i) || read_only {
        flags |= TFLAG_READ_ONLY;
    }
    Some((d, t.devs[i].size, flags))
}

/// The option haggling: returns the device chosen and its flags, or None
/// when the client aborted.
fn negotiate<S: Read + Write>(
    s: &mut S,
    table: &Shared,
    zeroes: bool,
) -> io::Result<Option<(u64, u16)>> {
    loop {
        if read_u64(s)? != IHAVEOPT {
            return Err(bad("option without IHAVEOPT"));
        }
        let opt = read_u32(s)?;
        let len = read_u32(s)?;
        if len > MAX_OPTION {
            return Err(bad("option too long"));
        }
        let mut data = vec![0u8; len as usize];
        s.read_exact(&mut data)?;
        match opt {
            OPT_EXPORT_NAME => {
                let name = String::from_utf8_lossy(&data).into_owned();
                // No way to refuse here but to hang up.
                let (d, size, flags) = export(table, &name).ok_or_else(|| bad("unknown export"))?;
                let mut b = vec![0u8; 10];
                BE::write_u64(&mut b[0..], size);
                BE::write_u16(&mut b[8..], flags);
                if zeroes {
                    b.resize(10 + 124, 0);
                }
                s.write_all(&b)?;
                s.flush()?;
                return Ok(Some((d, flags)));
            }
            OPT_ABORT => {
                opt_reply(s, opt, REP_ACK, &[])?;
                return Ok(None);
            }
            OPT_LIST => {
                if !data.is_empty() {
                    opt_reply(s, opt, REP_ERR_INVALID, &[])?;
                    continue;
                }
                let list = exports(&table.lock());
                for (name, _) in list {
                    let mut b = vec![0u8; 4];
                    BE::write_u32(&mut b, name.len() as u32);
                    b.extend_from_slice(name.as_bytes());
                    opt_reply(s, opt, REP_SERVER, &b)?;
                }
                opt_reply(s, opt, REP_ACK, &[])?;
            }
            OPT_INFO | OPT_GO => {
                // u32 name length, name, u16 count, count u16 requests.
                let name = (data.len() >= 4)
                    .then(|| BE::read_u32(&data) as usize)
                    .and_then(|n| data.get(4..4 + n))
                    .filter(|_| {
                        let n = BE::read_u32(&data) as usize;
                        data.len() >= 4 + n + 2
                            && data.len()
                                == 4 + n + 2 + 2 * usize::from(BE::read_u16(&data[4 + n..]))
                    });
                let Some(name) = name else {
                    opt_reply(s, opt, REP_ERR_INVALID, &[])?;
                    continue;
                };
                let name = String::from_utf8_lossy(name).into_owned();
                let Some((d, size, flags)) = export(table, &name) else {
                    opt_reply(s, opt, REP_ERR_UNKNOWN, b"no such export")?;
                    continue;
                };
                let mut info = vec![0u8; 12];
                BE::write_u16(&mut info[0..], INFO_EXPORT);
                BE::write_u64(&mut info[2..], size);
                BE::write_u16(&mut info[10..], flags);
                opt_reply(s, opt, REP_INFO, &info)?;
                opt_reply(s, opt, REP_ACK, &[])?;
                if opt == OPT_GO {
                    return Ok(Some((d, flags)));
                }
            }
            _ => opt_reply(s, opt, REP_ERR_UNSUP, &[])?,
        }
    }
}

/// Sends a simple reply (with `data` after a successful read).
fn reply(s: &mut impl Write, handle: u64, error: u32, data: &[u8]) -> io::Result<()> {
    let mut h = [0u8; 16];
    BE::write_u32(&mut h[0..], SIMPLE_REPLY_MAGIC);
    BE::write_u32(&mut h[4..], error);
    BE::write_u64(&mut h[8..], handle);
    s.write_all(&h)?;
    if error == 0 {
        s.write_all(data)?;
    }
    s.flush()
}

/// The transmission phase on device `d`.
fn transmit<S: Read + Write>(s: &mut S, table: &Shared, d: u64, flags: u16) -> io::Result<()> {
    let errno = |e: &io::Error| errno_of(e) as u32;
    // Reads are served from one buffer for the connection (grown to the
    // longest read, at most MAX_REQUEST), not a new zeroed one each.
    let mut buf = Vec::new();
    loop {
        let mut h = [0u8; 28];
        s.read_exact(&mut h)?;
        if BE::read_u32(&h[0..]) != REQUEST_MAGIC {
            return Err(bad("request without its magic"));
        }
        let kind = BE::read_u16(&h[6..]);
        let handle = BE::read_u64(&h[8..]);
        let offset = BE::read_u64(&h[16..]);
        let len = BE::read_u32(&h[24..]);
        // A removed device's requests fail with EIO (the table's answer).
        let size = {
            let t = table.lock();
            t.index(d).map_or(u64::MAX, |i| t.devs[i].size)
        };
        let in_range = offset
            .checked_add(u64::from(len))
            .is_some_and(|e| e <= size);
        match kind {
            CMD_READ => {
                if !in_range || len > MAX_REQUEST {
                    reply(s, handle, EINVAL, &[])?;
                    continue;
                }
                // The table is let go before the reply is sent.
                let done = table.io_dev(d).read_into(d, offset, len as usize, &mut buf);
                match done {
                    Ok(n) => reply(s, handle, 0, &buf[..n])?,
                    Err(e) => reply(s, handle, errno(&e), &[])?,
                }
            }
            CMD_WRITE => {
                if len > MAX_REQUEST {
                    // Its data cannot be skipped safely: hang up.
                    return Err(bad("write too long"));
                }
                let mut data = vec![0u8; len as usize];
                s.read_exact(&mut data)?;
                let error = if flags & TFLAG_READ_ONLY != 0 {
                    EPERM
                } else if !in_range {
                    ENOSPC
                } else {
                    match table.io_dev(d).write(d, offset, &data) {
                        Ok(n) if n == data.len() => 0,
                        Ok(_) => ENOSPC,
                        Err(e) => errno(&e),
                    }
                };
                reply(s, handle, error, &[])?;
            }
            CMD_FLUSH => {
                let error = match table.io_dev(d).flush(d) {
                    Ok(()) => 0,
                    Err(e) => errno(&e),
                };
                reply(s, handle, error, &[])?;
            }
            // A discard, as the device takes it (`Table::discard`): zeros
            // on a linear LV, whole blocks unmapped on a thin LV; ENOTSUP
            // from the snapshot targets (the
            // table may have changed since the handshake offered TRIM).
            CMD_TRIM => {
                let error = if flags & TFLAG_READ_ONLY != 0 {
                    EPERM
                } else if !in_range {
                    EINVAL
                } else {
                    match table.io_dev(d).discard(d, offset, u64::from(len)) {
                        Ok(()) => 0,
                        Err(e) => errno(&e),
                    }
                };
                reply(s, handle, error, &[])?;
            }
            CMD_DISC => return Ok(()),
            _ => reply(s, handle, ENOTSUP, &[])?,
        }
    }
}
