//! The two Linux system interfaces the server's event loop needs, behind safe wrappers: an
//! epoll instance (level-triggered readiness of many sockets on one thread) and an eventfd
//! (another thread wakes the loop to stop it).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Readable.
pub(super) const IN: u32 = libc::EPOLLIN as u32;
/// Writable.
pub(super) const OUT: u32 = libc::EPOLLOUT as u32;
/// Error or hang-up on the socket.
pub(super) const ERR: u32 = libc::EPOLLERR as u32;

/// One readiness report: the token registered with the file descriptor, and what is ready.
#[derive(Clone, Copy, Debug)]
pub(super) struct Event {
    pub(super) token: u64,
    pub(super) ready: u32,
}

/// An epoll instance.
#[derive(Debug)]
pub(super) struct Epoll {
    fd: OwnedFd,
    buf: Vec<libc::epoll_event>,
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl Epoll {
    /// A new instance reporting up to `batch` events per wait.
    pub(super) fn new(batch: usize) -> io::Result<Self> {
        // SAFETY: epoll_create1 takes no pointers; a non-negative result is a new descriptor
        // that nothing else owns.
        let fd = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `fd` was just created and is owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Epoll {
            fd,
            buf: vec![libc::epoll_event { events: 0, u64: 0 }; batch.max(1)],
        })
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, token: u64, interest: u32) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: interest,
            u64: token,
        };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call; the kernel copies it.
        check(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), op, fd, &raw mut ev) })?;
        Ok(())
    }

    /// Watches `fd` for `interest`, reporting `token`.
    pub(super) fn add(&self, fd: RawFd, token: u64, interest: u32) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, token, interest)
    }

    /// Changes what `fd` is watched for.
    pub(super) fn modify(&self, fd: RawFd, token: u64, interest: u32) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, token, interest)
    }

    /// Stops watching `fd`.
    pub(super) fn delete(&self, fd: RawFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0)
    }

    /// Waits up to `timeout_ms` (-1: forever) and appends what is ready to `out` (cleared
    /// first). An interrupted wait returns no events.
    pub(super) fn wait(&mut self, out: &mut Vec<Event>, timeout_ms: i32) -> io::Result<()> {
        out.clear();
        let max = libc::c_int::try_from(self.buf.len()).unwrap_or(libc::c_int::MAX);
        // SAFETY: `buf` holds `max` writable epoll_events; the kernel writes at most that many.
        let r = unsafe {
            libc::epoll_wait(self.fd.as_raw_fd(), self.buf.as_mut_ptr(), max, timeout_ms)
        };
        let n = match check(r) {
            Ok(n) => usize::try_from(n).unwrap_or(0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => return Err(e),
        };
        out.extend(self.buf[..n].iter().map(|e| Event {
            token: e.u64,
            ready: e.events,
        }));
        Ok(())
    }
}

/// An eventfd: [`Waker::wake`] from any thread makes the loop's epoll report it readable.
#[derive(Debug)]
pub(super) struct Waker {
    fd: OwnedFd,
}

impl Waker {
    /// A new, unsignalled waker.
    pub(super) fn new() -> io::Result<Self> {
        // SAFETY: eventfd takes no pointers; a non-negative result is a new descriptor.
        let fd = check(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: `fd` was just created and is owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Waker { fd })
    }

    /// The descriptor to watch.
    pub(super) fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Signals the waker.
    pub(super) fn wake(&self) -> io::Result<()> {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes the 8 bytes of `one`, which lives through the call.
        let r = unsafe { libc::write(self.fd.as_raw_fd(), one.as_ptr().cast(), one.len()) };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}

/// Sets `fd`'s listen backlog to the system's maximum, so that a burst of connections waits in
/// the kernel instead of having its handshakes dropped and retried a second later (the standard
/// library listens with a backlog of 128).
pub(super) fn listen_backlog_max(fd: RawFd) -> io::Result<()> {
    // SAFETY: listen(2) on a descriptor we own; calling it again on a listening socket only
    // changes its backlog.
    check(unsafe { libc::listen(fd, libc::SOMAXCONN) })?;
    Ok(())
}
