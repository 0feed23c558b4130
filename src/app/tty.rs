//! The terminal's modes while the live progress lines are up. Ctrl-C makes
//! the terminal throw away output not yet shown (unless `noflsh` is set),
//! and the bytes that erase the progress lines may be that output: written
//! an instant before Ctrl-C, they were lost, and the lines stayed above the
//! report. So `noflsh` is set while the lines are drawn and until the
//! report is written, and put back as it was after.

use std::os::fd::AsFd;

use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcgetpgrp, tcsetattr};

/// Keeps the terminal of `fd` from throwing output away on Ctrl-C until
/// dropped.
pub struct KeepOutput<F: AsFd> {
    fd: F,
}

impl<F: AsFd> KeepOutput<F> {
    /// `None` when `fd` is not a terminal this process may change (it runs
    /// in the background, where changing it would stop the process), or
    /// when `noflsh` is already set: nothing to put back then.
    pub fn on(fd: F) -> Option<KeepOutput<F>> {
        if tcgetpgrp(&fd).ok()? != rustix::process::getpgrp() {
            return None;
        }
        let mut modes = tcgetattr(&fd).ok()?;
        if modes.local_modes.contains(LocalModes::NOFLSH) {
            return None;
        }
        modes.local_modes.insert(LocalModes::NOFLSH);
        tcsetattr(&fd, OptionalActions::Now, &modes).ok()?;
        Some(KeepOutput { fd })
    }
}

impl<F: AsFd> Drop for KeepOutput<F> {
    fn drop(&mut self) {
        // Only the one flag: whatever else changed meanwhile stays.
        if let Ok(mut modes) = tcgetattr(&self.fd) {
            modes.local_modes.remove(LocalModes::NOFLSH);
            let _ = tcsetattr(&self.fd, OptionalActions::Now, &modes);
        }
    }
}
