//! The `bazaar-devstack` binary behind `make run`; see
//! [`bazaar_devstack::launcher`].

use std::process::ExitCode;

use bazaar_devstack::launcher::{self, Options};
use clap::Parser as _;

fn main() -> ExitCode {
    let options = Options::parse();
    // One thread: children are tied to the thread that spawned them
    // (PR_SET_PDEATHSIG), which must live as long as they do.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("bazaar-devstack: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(launcher::run(options)) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("bazaar-devstack: {error:#}");
            ExitCode::FAILURE
        }
    }
}
