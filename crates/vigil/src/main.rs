//! `vigil`: the server. Reads configuration, wires the crates together and
//! serves until SIGTERM or SIGINT. No arguments: every setting comes from
//! the environment (and `.env`), see `docs/ref/configuration.md`.

mod config;
mod recording;
mod run;
mod secrets;
mod tasks;
mod telemetry;

use std::process::ExitCode;

fn main() -> ExitCode {
    // A missing .env is normal; a malformed one is a configuration error.
    if let Err(e) = dotenvy::dotenv() {
        if !e.not_found() {
            eprintln!("configuration error: .env: {e}");
            return ExitCode::from(2);
        }
    }
    let cfg = match config::Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(cfg.log_format);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vigil: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run::run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(run::StartError::Config(e)) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
        Err(e) => {
            tracing::error!(error = %e, "vigil stopped");
            eprintln!("vigil: {e}");
            ExitCode::FAILURE
        }
    }
}
