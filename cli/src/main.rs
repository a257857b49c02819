//! `ltisync`: the operator's command line. It reads the deployed table (or
//! a local one through `AWS_ENDPOINT_URL`) with the usual AWS credential
//! chain and region, and answers "why did this grade not arrive?" without
//! CloudWatch or raw items.
//!
//! Exit codes: 0 fine; 1 findings (`failed` found failed grades); 2 usage,
//! access or connection errors, with one line that says what to do.

mod check;
mod failed;
mod inventory;
mod requeue;
mod status;
mod sync;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ltisync::{ActivityKey, Store};

/// See, explain and requeue the grades ltisync passes back to the LMS.
#[derive(Debug, Parser)]
#[command(name = "ltisync", version)]
struct Cli {
    /// The DynamoDB table ltisync uses.
    #[arg(long, env = "TABLE_NAME", global = true)]
    table: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Per activity: grades by sync status, pending reasons, needs relaunch,
    /// line item, last launch; and totals.
    Status {
        /// Only this activity (its key, as the launch page shows it).
        #[arg(long)]
        activity: Option<String>,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Each failed grade with its activity, user, HTTP status, reason and
    /// time; exits 1 when there is any.
    Failed {
        /// Only this activity.
        #[arg(long)]
        activity: Option<String>,
        /// Only activities of this platform (its LTIaaS registration id).
        #[arg(long)]
        platform: Option<String>,
        /// Only grades the LMS refused with this HTTP status.
        #[arg(long = "status")]
        http_status: Option<u16>,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Makes grades pending again with the write a tool makes, never
    /// changing a value; the stream path posts them within seconds.
    Requeue {
        /// Every failed grade selected.
        #[arg(long, conflicts_with = "user", required_unless_present = "user")]
        failed: bool,
        /// This user's grades.
        #[arg(long)]
        user: Option<String>,
        /// Only this activity.
        #[arg(long)]
        activity: Option<String>,
        /// Act on the whole table (required without --activity).
        #[arg(long)]
        all: bool,
        /// Say what would be requeued; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Runs a sync now and prints its summary: the deployed function
    /// (`--function`), or in this process (`--local`) with the function's
    /// settings (LTIAAS_URL, LTIAAS_API_KEY or LTIAAS_API_KEY_SECRET, SYNC_*).
    Sync {
        /// Only this activity.
        #[arg(long)]
        activity: Option<String>,
        /// Report what would be posted; post and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// The deployed sync function (the stack's SyncFunctionName output).
        #[arg(long, env = "SYNC_FUNCTION", required_unless_present = "local")]
        function: Option<String>,
        /// Run the engine here instead.
        #[arg(long, conflicts_with = "function")]
        local: bool,
    },
    /// Checks the table's keys and index, the configuration, the API key
    /// secret and LTIaaS with the API key; exits 1 on any problem.
    Check,
}

/// Why the command could not do its work (exit code 2).
#[derive(Debug)]
pub struct Trouble(String);

impl Trouble {
    fn store(table: &str, error: ltisync::StoreError) -> Self {
        Self(format!(
            "could not read or write table '{table}': {error}. Check the AWS credentials and \
             region (or AWS_ENDPOINT_URL for a local table) and the table name"
        ))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(Trouble(line)) => {
            eprintln!("ltisync: {line}");
            ExitCode::from(2)
        }
    }
}

/// The table the command reads, from `--table` or `TABLE_NAME`.
async fn open_store(table: Option<&str>) -> Result<Store, Trouble> {
    let table =
        table.ok_or_else(|| Trouble("no table: pass --table NAME or set TABLE_NAME".into()))?;
    let config = ltisync::bootstrap::aws_config().await;
    Ok(Store::new(aws_sdk_dynamodb::Client::new(&config), table))
}

async fn run(cli: Cli) -> Result<ExitCode, Trouble> {
    let store = || open_store(cli.table.as_deref());
    match cli.command {
        Command::Status { activity, json } => {
            status::run(&store().await?, parse_key(activity)?.as_ref(), json).await
        }
        Command::Failed {
            activity,
            platform,
            http_status,
            json,
        } => {
            let filter = failed::Filter {
                activity: parse_key(activity)?,
                platform,
                http_status,
            };
            failed::run(&store().await?, &filter, json).await
        }
        Command::Requeue {
            failed,
            user,
            activity,
            all,
            dry_run,
            json,
        } => {
            let selection = requeue::Selection {
                failed,
                user,
                activity: parse_key(activity)?,
                dry_run,
            };
            if selection.activity.is_none() && !all {
                return Err(Trouble(WHOLE_TABLE_NEEDS_ALL.into()));
            }
            requeue::run(&store().await?, &selection, json).await
        }
        Command::Sync {
            activity,
            dry_run,
            function,
            local,
        } => {
            let command = sync::SyncCommand {
                activity: parse_key(activity)?,
                dry_run,
                function: function.filter(|_| !local),
            };
            sync::run(&command, cli.table.as_deref()).await
        }
        Command::Check => Ok(check::run(&store().await?).await),
    }
}

/// Why `requeue` without `--activity` refuses to act.
const WHOLE_TABLE_NEEDS_ALL: &str =
    "requeue acts on the whole table only with --all; name one activity with --activity KEY";

fn parse_key(key: Option<String>) -> Result<Option<ActivityKey>, Trouble> {
    key.map(|k| ActivityKey::parse(&k).map_err(|e| Trouble(e.to_string())))
        .transpose()
}
