//! The open-files limit: raised from the soft to the hard limit at start (systemd gives a
//! service 1024 unless its unit says otherwise), and the check that `[server] max_listeners`
//! fits under it with room for everything else the daemon keeps open.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Descriptors kept for what is not a listener: stdio, the HTTP and control listeners, the
/// runtime's epoll and wakers, control clients, the state file and its directory, the config
/// file on reload, the journal and notify sockets, the CUDA driver's device files, and
/// connections that are still being answered (health checks, `/metrics`, refused ones).
pub const HEADROOM: u64 = 128;

/// Where a `max_listeners` is checked against when the limit is unbounded.
const UNBOUNDED: u64 = 1 << 20;

/// The limit in force after [`raise`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFiles {
    /// The soft limit: what the process may open.
    pub soft: u64,
    /// The hard limit: the most the soft one may be raised to without privileges.
    pub hard: u64,
}

impl OpenFiles {
    /// The limit as it is now, without changing it.
    pub fn current() -> OpenFiles {
        from_rlimit(getrlimit(Resource::Nofile))
    }

    /// Refuses a `max_listeners` that cannot be held open at once, naming both numbers and
    /// the way out.
    pub fn check(&self, max_listeners: usize) -> Result<(), String> {
        let needed = max_listeners as u64 + HEADROOM;
        if needed <= self.soft {
            return Ok(());
        }
        Err(format!(
            "max_listeners: {max_listeners} cannot be held open: the open-files limit is {soft} \
             (hard limit {hard}) and {HEADROOM} are kept for everything else, so at most {most} \
             listeners fit; lower [server] max_listeners or raise the limit (LimitNOFILE= in the \
             systemd unit, ulimit -n in a shell)",
            soft = self.soft,
            hard = self.hard,
            most = self.soft.saturating_sub(HEADROOM),
        ))
    }
}

/// Raises the soft open-files limit to the hard one, and returns the limit in force (the
/// old one, with a warning, when the raise is refused).
pub fn raise() -> OpenFiles {
    let before = getrlimit(Resource::Nofile);
    if before.current == before.maximum {
        return from_rlimit(before);
    }
    // An unbounded hard limit cannot be the soft one (the kernel caps it at fs.nr_open).
    let target = before.maximum.unwrap_or(UNBOUNDED);
    let raised = Rlimit {
        current: Some(target),
        maximum: before.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => {
            let now = OpenFiles::current();
            tracing::debug!(
                soft = now.soft,
                hard = now.hard,
                "raised the open-files limit"
            );
            now
        }
        Err(error) => {
            let now = from_rlimit(before);
            tracing::warn!(
                %error,
                soft = now.soft,
                hard = now.hard,
                "cannot raise the open-files limit; keeping the soft one"
            );
            now
        }
    }
}

fn from_rlimit(limit: Rlimit) -> OpenFiles {
    OpenFiles {
        soft: limit.current.unwrap_or(UNBOUNDED),
        hard: limit.maximum.unwrap_or(UNBOUNDED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_that_cannot_hold_the_listeners_names_both_numbers() {
        let limit = OpenFiles {
            soft: 1024,
            hard: 1024,
        };
        assert!(limit.check(896).is_ok());
        let error = limit.check(1000).unwrap_err();
        assert!(
            error.contains("max_listeners: 1000") && error.contains("limit is 1024"),
            "{error}"
        );
        assert!(error.contains("at most 896"), "{error}");
    }
}
