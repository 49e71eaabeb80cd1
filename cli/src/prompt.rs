//! Reading a secret value: from a file, from a pipe, or typed at the terminal without echo.
//!
//! A value never comes from a plain argument (it would land in shell history and in `ps` for
//! every user of the machine); `--value` exists only behind an explicit opt-in flag.

use std::io::{IsTerminal, Read};
use std::path::Path;

use anyhow::Context;
use nix::sys::termios::{LocalFlags, SetArg, Termios, tcgetattr, tcsetattr};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The largest value the server accepts (64 KiB), plus room to notice a bigger one.
const READ_CAPACITY: usize = 64 * 1024 + 2;

/// The value of `--from-file`, byte for byte.
pub fn from_file(path: &Path) -> Result<Zeroizing<String>> {
    let bytes =
        Zeroizing::new(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?);
    utf8(bytes, &path.display().to_string())
}

/// The value on stdin: typed without echo at a terminal, else everything piped in, less one
/// trailing newline (what `echo` and most editors add).
pub async fn from_stdin(name: &str) -> Result<Zeroizing<String>> {
    if std::io::stdin().is_terminal() {
        return hidden_line(&format!("Value for {name} (not shown): ")).await;
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(READ_CAPACITY));
    std::io::stdin()
        .lock()
        .read_to_end(&mut bytes)
        .context("reading the value from stdin")?;
    if bytes.ends_with(b"\n") {
        bytes.pop();
        if bytes.ends_with(b"\r") {
            bytes.pop();
        }
    }
    utf8(bytes, "stdin")
}

fn utf8(bytes: Zeroizing<Vec<u8>>, source: &str) -> Result<Zeroizing<String>> {
    match std::str::from_utf8(&bytes) {
        Ok(text) => Ok(Zeroizing::new(text.to_owned())),
        Err(_) => Err(Error::usage(format!(
            "the value from {source} is not UTF-8 text; secrets are strings (base64-encode binary data)"
        ))),
    }
}

/// Puts the terminal back as it was, however the prompt ends.
struct Restore(Termios);

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, &self.0);
    }
}

async fn hidden_line(prompt: &str) -> Result<Zeroizing<String>> {
    let original = tcgetattr(std::io::stdin()).context("reading the terminal's settings")?;
    let mut quiet = original.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    quiet.local_flags.insert(LocalFlags::ECHONL);
    tcsetattr(std::io::stdin(), SetArg::TCSANOW, &quiet).context("turning off echo")?;
    let _restore = Restore(original);
    eprint!("{prompt}");
    let read = tokio::task::spawn_blocking(|| {
        let mut line = Zeroizing::new(String::with_capacity(READ_CAPACITY));
        std::io::stdin().read_line(&mut line).map(|_| line)
    });
    // Ctrl-C must not leave the terminal without echo: catch it and restore first.
    let line = tokio::select! {
        read = read => read.context("reading the value")?.context("reading the value")?,
        _ = tokio::signal::ctrl_c() => {
            return Err(Error::usage("interrupted; nothing was stored"));
        }
    };
    let value = line.trim_end_matches(['\n', '\r']);
    Ok(Zeroizing::new(value.to_owned()))
}
