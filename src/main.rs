mod cli;

use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = cli::Cli::parse();
    let code = match cli::main(cli).await {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("error: {message}");
            1
        }
    };
    // Ends the process here: dropping the runtime would wait for blocking work still in flight
    // (a stop must take a bounded time whatever the apiserver and Airbyte are doing).
    std::process::exit(code);
}
