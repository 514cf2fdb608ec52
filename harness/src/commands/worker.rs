//! `judge worker` (hidden): serve as the process that runs submitted code, for a judge that started us.

use crate::sandbox::worker::serve;
use crate::verdict::ExitStatus;

use super::CommandError;

pub(super) fn worker() -> Result<ExitStatus, CommandError> {
    match serve() {
        Ok(()) => Ok(ExitStatus::Success),
        Err(error) => {
            eprintln!("judge worker: {error}");
            Ok(ExitStatus::Internal)
        }
    }
}
