//! `cactus`: the Couponcactus command line (see `cactus --help`, and the `cli` module).
//!
//! Parses the command line, runs the command on a tokio runtime, and turns a failure into
//! its message (with a hint of what to do) on stderr, `{"error":…}` on stdout with
//! `--json`, and the exit code `cli::output` documents.

mod cli;

use clap::Parser;
use cli::output::{Failure, error_json};
use couponcactus_client::NodeClientError;
use std::io::IsTerminal as _;
use std::process::ExitCode;

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CACTUS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Colours only for a person at a terminal (and not with NO_COLOR): a redirected stderr
    // stays plain text.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
}

/// Prints a failed command's error and gives its exit code.
fn report(error: &anyhow::Error, json: bool) -> ExitCode {
    let (code, hint, exit, printed) = match error.downcast_ref::<Failure>() {
        Some(f) => (f.code.clone(), f.hint.clone(), f.exit, f.printed),
        None => {
            let code = error
                .chain()
                .find_map(|e| e.downcast_ref::<NodeClientError>())
                .and_then(|e| e.api_code().map(str::to_string))
                .unwrap_or_else(|| "error".into());
            (code, None, 1, false)
        }
    };
    let message = match error.downcast_ref::<Failure>() {
        Some(f) => f.message.clone(),
        None => format!("{error:#}"),
    };
    if json && !printed {
        cli::output::print_line(&error_json(&code, &message, hint.as_deref()).to_string());
    }
    eprintln!("error: {message}");
    if let Some(hint) = hint {
        eprintln!("  hint: {hint}");
    }
    ExitCode::from(exit)
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_tracing();
    let json = cli.json;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e, json),
    }
}
