use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = airbyte_embedded_operator::cli::Cli::parse();
    match airbyte_embedded_operator::cli::main(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
