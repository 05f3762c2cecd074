//! The operators' migration tool: `migration up | down [-n N] | status |
//! fresh`, on `DATABASE_URL` (read from the environment or `.env`).

use clap::{Parser, Subcommand};
use migration::{connect, redact_url, Migrator, MigratorTrait};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "migration",
    about = "Apply, revert or inspect Vigil's database migrations"
)]
struct Cli {
    /// Database URL; defaults to $DATABASE_URL.
    #[arg(short = 'u', long = "database-url", env = "DATABASE_URL")]
    database_url: String,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Apply pending migrations (all, or the next N).
    Up {
        #[arg(short = 'n', long = "num")]
        num: Option<u32>,
    },
    /// Revert applied migrations (the last one, or the last N).
    Down {
        #[arg(short = 'n', long = "num", default_value_t = 1)]
        num: u32,
    },
    /// List every migration and whether it is applied.
    Status,
    /// Drop every table and apply all migrations again. Destroys data.
    Fresh,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    let shown = redact_url(&cli.database_url);
    let db = match connect(&cli.database_url).await {
        Ok(db) => db,
        Err(e) => {
            eprintln!("migration: cannot connect to DATABASE_URL {shown}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command.unwrap_or(Command::Up { num: None }) {
        Command::Up { num } => Migrator::up(&db, num).await.map(|_| "applied"),
        Command::Down { num } => Migrator::down(&db, Some(num)).await.map(|_| "reverted"),
        Command::Fresh => Migrator::fresh(&db).await.map(|_| "fresh schema applied"),
        Command::Status => match Migrator::get_migration_with_status(&db).await {
            Ok(list) => {
                for m in &list {
                    println!("{:<10} {}", m.status().to_string(), m.name());
                }
                Ok("status listed")
            }
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(what) => {
            println!("migration: {what} on {shown}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("migration: failed on {shown}: {e}");
            ExitCode::FAILURE
        }
    }
}
