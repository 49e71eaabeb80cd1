//! The child process of `switchboard run`: signals forwarded to it, its exit status passed on.
//!
//! `run` stands between a CI runner (or an operator's shell) and the real command, so it must be
//! transparent: SIGTERM from a cancelled job, SIGHUP from a closed session and SIGINT reach the
//! child, `run` keeps waiting until the child has exited (the child decides how to shut down),
//! and then exits with the child's code, or 128 + the signal number when a signal killed it, as
//! a shell reports it.
//!
//! Ctrl-C in a terminal already reaches the child: the terminal signals the whole foreground
//! process group, which the child shares with us. Forwarding that SIGINT as well would deliver
//! it twice (and a second SIGINT often means "force quit"), so it is forwarded only when we are
//! not the terminal's foreground group, i.e. when someone sent it to us alone.

use std::ffi::OsStr;
use std::process::ExitCode;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::signal::unix::{SignalKind, signal};

use crate::error::Result;

/// Catches SIGINT, SIGTERM and SIGHUP from the moment it is installed, to hand them to the
/// child once there is one (a signal caught before the child starts is delivered right after).
#[derive(Debug)]
pub struct Forwarder {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl Forwarder {
    pub fn install() -> Result<Self> {
        let catch = |kind: SignalKind| {
            signal(kind).map_err(|e| anyhow::Error::from(e).context("installing signal handlers"))
        };
        Ok(Self {
            interrupt: catch(SignalKind::interrupt())?,
            terminate: catch(SignalKind::terminate())?,
            hangup: catch(SignalKind::hangup())?,
        })
    }

    /// Starts `command`, forwards signals until it exits, and returns its exit code.
    pub async fn run(mut self, mut command: tokio::process::Command, program: &OsStr) -> ExitCode {
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(error) => {
                // The codes a shell uses: 127 not found, 126 found but not executable.
                let code = if error.kind() == std::io::ErrorKind::NotFound {
                    127
                } else {
                    126
                };
                eprintln!(
                    "switchboard: cannot run {}: {error}",
                    program.to_string_lossy()
                );
                return ExitCode::from(code);
            }
        };
        let pid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw);
        let status = loop {
            let forward = tokio::select! {
                status = child.wait() => break status,
                Some(()) = self.interrupt.recv() => (!terminal_sent_interrupt()).then_some(Signal::SIGINT),
                Some(()) = self.terminate.recv() => Some(Signal::SIGTERM),
                Some(()) = self.hangup.recv() => Some(Signal::SIGHUP),
            };
            // The child is not reaped before `wait` returns, so the pid is still its own.
            if let (Some(signal), Some(pid)) = (forward, pid) {
                let _ = kill(pid, signal);
            }
        };
        match status {
            Ok(status) => ExitCode::from(exit_code(&status)),
            Err(error) => {
                eprintln!("switchboard: waiting for the command: {error}");
                ExitCode::from(crate::error::FAILURE)
            }
        }
    }
}

/// The code a shell would report for `status`.
fn exit_code(status: &std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(1),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(255),
        (None, None) => 1,
    }
}

/// Whether we are the foreground process group of our terminal, so that a SIGINT most likely
/// came from Ctrl-C and the child (in the same group) has it already.
fn terminal_sent_interrupt() -> bool {
    let ours = nix::unistd::getpgrp();
    [
        nix::unistd::tcgetpgrp(std::io::stdin()),
        nix::unistd::tcgetpgrp(std::io::stdout()),
        nix::unistd::tcgetpgrp(std::io::stderr()),
    ]
    .into_iter()
    .flatten()
    .next()
    .is_some_and(|foreground| foreground == ours)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn exit_codes_are_what_a_shell_reports() {
        assert_eq!(exit_code(&std::process::ExitStatus::from_raw(0)), 0);
        assert_eq!(exit_code(&std::process::ExitStatus::from_raw(42 << 8)), 42);
        // Killed by SIGTERM (15).
        assert_eq!(exit_code(&std::process::ExitStatus::from_raw(15)), 143);
    }
}
