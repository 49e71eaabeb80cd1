//! The open-files limit: every HTTP connection and every SDK stream is a file descriptor.
//!
//! Processes usually start with a soft limit of 1 024 descriptors and a much higher hard limit
//! (systemd: 1 024 / 524 288). Left at 1 024, the server would refuse connections (`accept`
//! failing with "too many open files") long before `max_streams` applies. Like Go's runtime,
//! `serve` raises its soft limit to the hard one at start, and warns when even the hard limit
//! is short of what the settings ask for.

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Descriptors kept for everything but streams: database and Redis connections, requests in
/// flight, files.
const HEADROOM: u64 = 1024;

/// Linux refuses a soft limit above `fs.nr_open` (1 048 576 by default), even when the hard
/// limit is "unlimited".
const CEILING: u64 = 1 << 20;

/// Raises the soft open-files limit to the hard one; returns the limit now in force.
pub fn raise_open_files_limit(max_streams: u32) -> Option<u64> {
    let (soft, hard) = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok(limits) => limits,
        Err(error) => {
            tracing::warn!(%error, "cannot read the open-files limit");
            return None;
        }
    };
    let target = hard.min(CEILING);
    let in_force = if soft < target {
        match setrlimit(Resource::RLIMIT_NOFILE, target, hard) {
            Ok(()) => {
                tracing::debug!(from = soft, to = target, "raised the open-files limit");
                target
            }
            Err(error) => {
                tracing::warn!(%error, soft, hard, "cannot raise the open-files limit");
                soft
            }
        }
    } else {
        soft
    };
    let needed = u64::from(max_streams) + HEADROOM;
    if in_force < needed {
        tracing::warn!(
            limit = in_force,
            max_streams,
            "the open-files limit is below SWITCHBOARD_MAX_STREAMS + {HEADROOM}: connections may \
             be refused before the stream limit applies; raise it (`ulimit -n`, systemd \
             `LimitNOFILE=`) or lower SWITCHBOARD_MAX_STREAMS"
        );
    }
    Some(in_force)
}
