//! The runtime conditions an invocation is priced under, checked when they are built.

use crate::error::Result;
use crate::validate::Check;

/// The runtime conditions an invocation is priced under.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Conditions {
    pub(super) warm_hit: f64,
    pub(super) storage_utilisation: f64,
    pub(super) drained_per_wakeup: f64,
    pub(super) requests_per_syscall: f64,
    pub(super) peer_wakeups_per_request: Option<f64>,
}

impl Default for Conditions {
    /// Warm contexts, idle storage, one request per wake-up (ping-pong), one request per system
    /// call (no pipelining).
    fn default() -> Self {
        Conditions {
            warm_hit: 1.0,
            storage_utilisation: 0.0,
            drained_per_wakeup: 1.0,
            requests_per_syscall: 1.0,
            peer_wakeups_per_request: None,
        }
    }
}

impl Conditions {
    /// Conditions with warm-hit probability `h` in `[0, 1]`, storage utilisation `rho` in
    /// `[0, 1)`, and `drained >= 1` requests handled per server wake-up.
    ///
    /// # Errors
    /// [`crate::CostError::Invalid`] naming the parameter that is NaN or out of range.
    #[inline]
    pub fn new(warm_hit: f64, storage_utilisation: f64, drained_per_wakeup: f64) -> Result<Self> {
        // The accepted set below, without building a `Check` (each range excludes NaN and
        // infinities).
        if (0.0..=1.0).contains(&warm_hit)
            && (0.0..1.0).contains(&storage_utilisation)
            && (1.0..=f64::MAX).contains(&drained_per_wakeup)
        {
            return Ok(Conditions {
                warm_hit,
                storage_utilisation,
                drained_per_wakeup,
                requests_per_syscall: 1.0,
                peer_wakeups_per_request: None,
            });
        }
        Self::checked(warm_hit, storage_utilisation, drained_per_wakeup)
    }

    /// [`Conditions::new`] with an error naming the first bad parameter.
    #[cold]
    fn checked(warm_hit: f64, storage_utilisation: f64, drained_per_wakeup: f64) -> Result<Self> {
        let c = Check::new("conditions");
        c.within("warm_hit", warm_hit, 0.0, 1.0)?;
        c.finite("storage_utilisation", storage_utilisation)?;
        if !(0.0..1.0).contains(&storage_utilisation) {
            return Err(c.fail(
                "storage_utilisation",
                format!("must be in [0, 1), got {storage_utilisation}"),
            ));
        }
        c.finite("drained_per_wakeup", drained_per_wakeup)?;
        if drained_per_wakeup < 1.0 {
            return Err(c.fail(
                "drained_per_wakeup",
                format!("must be >= 1, got {drained_per_wakeup}"),
            ));
        }
        Ok(Conditions {
            warm_hit,
            storage_utilisation,
            drained_per_wakeup,
            requests_per_syscall: 1.0,
            peer_wakeups_per_request: None,
        })
    }

    /// Probability `h` that a warm context is available.
    pub fn warm_hit(&self) -> f64 {
        self.warm_hit
    }

    /// Storage server utilisation `rho`.
    pub fn storage_utilisation(&self) -> f64 {
        self.storage_utilisation
    }

    /// Requests the server handles per wake-up (1 = ping-pong; large = saturated).
    pub fn drained_per_wakeup(&self) -> f64 {
        self.drained_per_wakeup
    }

    /// Requests that share one read and one write system call at the server (the pipelining
    /// depth; 1 = none). Only transports with [`crate::ServerRequestTerms`] read it.
    pub fn requests_per_syscall(&self) -> f64 {
        self.requests_per_syscall
    }

    /// Clients the server wakes per request: how often a reply finds its client asleep on it
    /// (0 = clients that are always busy or poll; about `1 / drained` = every server wake-up
    /// answers one sleeping client). `None` until set; transports with
    /// [`crate::ServerRequestTerms`] that measured `per_peer_wakeup` then assume one per server
    /// wake-up ([`Conditions::peer_wakeups`]).
    pub fn peer_wakeups_per_request(&self) -> Option<f64> {
        self.peer_wakeups_per_request
    }

    /// Clients woken per request as priced: [`Conditions::peer_wakeups_per_request`] when set,
    /// else `1 / drained_per_wakeup`.
    #[inline]
    pub fn peer_wakeups(&self) -> f64 {
        self.peer_wakeups_per_request
            .unwrap_or(1.0 / self.drained_per_wakeup)
    }

    /// The same conditions with `n >= 0` clients woken per request (measured, e.g. from the
    /// clients' voluntary context switches per request).
    ///
    /// # Errors
    /// [`crate::CostError::Invalid`] naming `peer_wakeups_per_request` when `n` is NaN,
    /// infinite or negative.
    pub fn with_peer_wakeups_per_request(self, n: f64) -> Result<Self> {
        if !(0.0..=f64::MAX).contains(&n) {
            let c = Check::new("conditions");
            c.finite("peer_wakeups_per_request", n)?;
            return Err(c.fail("peer_wakeups_per_request", format!("must be >= 0, got {n}")));
        }
        Ok(Conditions {
            peer_wakeups_per_request: Some(n),
            ..self
        })
    }

    /// The same conditions with warm-hit probability `h`.
    ///
    /// # Errors
    /// As [`Conditions::new`].
    pub fn with_warm_hit(self, h: f64) -> Result<Self> {
        Conditions::new(h, self.storage_utilisation, self.drained_per_wakeup)
            .map(|c| c.keep_server_side(self))
    }

    /// The same conditions with storage utilisation `rho`.
    ///
    /// # Errors
    /// As [`Conditions::new`].
    pub fn with_utilisation(self, rho: f64) -> Result<Self> {
        Conditions::new(self.warm_hit, rho, self.drained_per_wakeup)
            .map(|c| c.keep_server_side(self))
    }

    /// The same conditions with `drained` requests per wake-up.
    ///
    /// # Errors
    /// As [`Conditions::new`].
    pub fn with_drained(self, drained: f64) -> Result<Self> {
        Conditions::new(self.warm_hit, self.storage_utilisation, drained)
            .map(|c| c.keep_server_side(self))
    }

    /// The same conditions with `n >= 1` requests per server system call (pipelining depth).
    ///
    /// # Errors
    /// [`crate::CostError::Invalid`] naming `requests_per_syscall` when `n` is NaN, infinite or < 1.
    pub fn with_requests_per_syscall(self, n: f64) -> Result<Self> {
        if !(1.0..=f64::MAX).contains(&n) {
            let c = Check::new("conditions");
            c.finite("requests_per_syscall", n)?;
            return Err(c.fail("requests_per_syscall", format!("must be >= 1, got {n}")));
        }
        Ok(Conditions {
            requests_per_syscall: n,
            ..self
        })
    }

    fn keep_server_side(self, from: Conditions) -> Self {
        Conditions {
            requests_per_syscall: from.requests_per_syscall,
            peer_wakeups_per_request: from.peer_wakeups_per_request,
            ..self
        }
    }
}
