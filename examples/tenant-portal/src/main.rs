//! `cargo run -p tenant-portal`: the portal on 127.0.0.1:8080 with an
//! embedded SQLite database and demo accounts.

use tenant_portal::{app, config::Config, data::seed::ACCOUNTS};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")),
        )
        .init();
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tenant-portal: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    let (bind, demo, db_url) = (config.bind, config.demo, config.database_url.clone());
    let public_url = config.public_url.clone();
    let (router, _app, registration) = app::build(config).await?;
    let listener = tokio::net::TcpListener::bind(bind).await?;
    println!("Orchard Homes tenant portal: {public_url}/  (listening on {bind}, database: {db_url})");
    if demo {
        println!("Demo mode. Accounts:");
        for a in ACCOUNTS {
            match a.password {
                Some(p) => println!("  {:<20} password {:<14} {}", a.email, p, a.note),
                None => println!("  {:<20} {:<23} {}", a.email, "", a.note),
            }
        }
        if let Some(token) = registration {
            println!("  Applicant registration link: {public_url}/register/{token}");
        }
        println!("  Text messages and emails appear at {public_url}/demo/outbox (from this machine only)");
    }
    app::listen(listener, router).await?;
    Ok(())
}
