//! `ltisync`: the operator's command line. It reads the deployed table (or
//! a local one through `AWS_ENDPOINT_URL`) with the usual AWS credential
//! chain and region, and answers "why did this grade not arrive?" without
//! CloudWatch or raw items.
//!
//! Exit codes: 0 fine; 1 findings (`failed` found failed grades, `check` a
//! check that did not pass, `reconcile` a grade the gradebook lacks or
//! shows otherwise, or an activity it could not read); 2 usage, access or
//! connection errors, with one line that says what to do.

mod check;
mod explain;
mod failed;
mod inventory;
mod reconcile;
mod requeue;
mod status;
mod sync;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ltisync::config::{DynamoDbTimeouts, ProcessEnv};
use ltisync::excerpt::excerpt_to;
use ltisync::{ActivityKey, Store};

/// See, explain and requeue the grades ltisync passes back to the LMS.
#[derive(Debug, Parser)]
#[command(name = "ltisync", version)]
struct Cli {
    /// The DynamoDB table ltisync uses.
    #[arg(long, env = "TABLE_NAME", global = true)]
    table: Option<String>,
    /// Longest time one AWS call may take, retries included, in ms (default:
    /// DYNAMODB_TIMEOUT_MS, as the functions read it, else 4000).
    #[arg(long, global = true, value_name = "MS")]
    timeout_ms: Option<u64>,
    /// On an error, also print the underlying error in full.
    #[arg(short, long, global = true)]
    verbose: bool,
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
        /// Also each activity's key, whole, on a line of its own (what
        /// --activity takes); the table is no longer kept to 80 columns.
        #[arg(long)]
        wide: bool,
    },
    /// One grade's story: the item as the tool wrote it and whether it is
    /// queued, what the LMS last accepted, what the gradebook holds now
    /// (read with LTIAAS_URL and the API key, when set), the outcome and
    /// the next step; exits 1 when a person needs to act.
    Explain(explain::Arguments),
    /// Each failed grade with its activity, user, HTTP status, reason and
    /// time; exits 1 when there is any.
    Failed(failed::Arguments),
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
        /// Send the value again even if the LMS already holds it (forgets
        /// the fingerprint of what it accepted; a plain requeue of an
        /// unchanged value settles it without a call).
        #[arg(long)]
        force: bool,
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
    /// Compares what the gradebook shows with the grades the sync marked
    /// SYNCED (one results listing per activity, with the function's
    /// settings: LTIAAS_URL, LTIAAS_API_KEY or LTIAAS_API_KEY_SECRET);
    /// exits 1 when any grade differs or is missing, or an activity cannot
    /// be read.
    Reconcile(reconcile::Options),
}

/// Why the command could not do its work (exit code 2).
#[derive(Debug)]
pub struct Trouble(String, Option<String>);

impl Trouble {
    /// One line saying what is wrong and what to do.
    fn new(line: impl Into<String>) -> Self {
        Self(line.into(), None)
    }

    /// DynamoDB failed: one line naming the service, the table and what to
    /// do, the SDK's whole report only behind `-v`.
    fn store(table: &str, error: ltisync::StoreError) -> Self {
        let full = error.to_string();
        let line = format!(
            "could not read or write table '{}' (DynamoDB): {}. Check the AWS credentials and region (or \
             AWS_ENDPOINT_URL for a local table), the table name, and the timeouts \
             (--timeout-ms); -v shows the full error",
            excerpt_to(table, 64),
            excerpt_to(&error.reason(), 160)
        );
        Self(line, Some(full))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => return usage_error(&e),
    };
    let verbose = cli.verbose;
    match run(cli).await {
        Ok(code) => code,
        Err(Trouble(line, detail)) => {
            eprintln!("ltisync: {line}");
            // Whole, but with control characters escaped: an SDK error can
            // echo what came from outside (a table name, a server's body).
            if let Some(detail) = detail.filter(|_| verbose) {
                eprintln!("{}", excerpt_to(&detail, usize::MAX));
            }
            ExitCode::from(2)
        }
    }
}

/// clap's usage error as one line, and exit code 2. clap's message is its
/// first paragraph: a sentence, or a sentence ending in `:` and the
/// arguments it lists on the lines below, which the line keeps.
fn usage_error(error: &clap::Error) -> ExitCode {
    let rendered = error.to_string();
    let paragraph: Vec<&str> = rendered
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect();
    let line = paragraph.join(" ");
    let line = line.trim_start_matches("error: ");
    eprintln!("ltisync: {}; see ltisync --help", excerpt_to(line, 200));
    ExitCode::from(2)
}

/// The AWS settings of the table and secret commands: the credential chain
/// and region, with a time limit on each call (`--timeout-ms`, else the
/// functions' `DYNAMODB_TIMEOUT_MS` and `DYNAMODB_ATTEMPT_TIMEOUT_MS`), so
/// an endpoint that never answers ends the command instead of hanging it.
pub async fn aws_config(timeout_ms: Option<u64>) -> Result<aws_config::SdkConfig, Trouble> {
    let mut timeouts = DynamoDbTimeouts::from_env(&ProcessEnv)
        .map_err(|e| Trouble::new(format!("{} {}", e.variable, e.problem)))?;
    if let Some(ms) = timeout_ms {
        timeouts.operation = std::time::Duration::from_millis(ms.max(1));
        timeouts.attempt = timeouts.attempt.min(timeouts.operation);
    }
    let limits = ltisync::store::timeout_config(&timeouts);
    let config = ltisync::bootstrap::aws_config().await;
    Ok(config.to_builder().timeout_config(limits).build())
}

/// The table the command reads, from `--table` or `TABLE_NAME`.
async fn open_store(table: Option<&str>, timeout_ms: Option<u64>) -> Result<Store, Trouble> {
    let table =
        table.ok_or_else(|| Trouble::new("no table: pass --table NAME or set TABLE_NAME"))?;
    let config = aws_config(timeout_ms).await?;
    Ok(Store::new(
        ltisync::bootstrap::dynamodb_client(&config),
        table,
    ))
}

async fn run(cli: Cli) -> Result<ExitCode, Trouble> {
    let timeout_ms = cli.timeout_ms;
    let store = || open_store(cli.table.as_deref(), timeout_ms);
    match cli.command {
        Command::Status {
            activity,
            json,
            wide,
        } => {
            let view = status::View::chosen(json, wide);
            status::run(&store().await?, parse_key(activity)?.as_ref(), view).await
        }
        Command::Failed(arguments) => {
            let filter = arguments.filter()?;
            failed::run(&store().await?, &filter, arguments.json).await
        }
        Command::Requeue {
            failed,
            user,
            activity,
            all,
            dry_run,
            force,
            json,
        } => {
            let selection = requeue::Selection {
                failed,
                user,
                activity: parse_key(activity)?,
                dry_run,
                force,
            };
            requeue::run(&store().await?, &selection.checked(all)?, json).await
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
        Command::Reconcile(options) => reconcile::run(&options, cli.table.as_deref()).await,
        Command::Explain(arguments) => {
            explain::command(&arguments, cli.table.as_deref(), timeout_ms).await
        }
        Command::Check => Ok(check::run(&store().await?, &aws_config(timeout_ms).await?).await),
    }
}

pub(crate) fn parse_key(key: Option<String>) -> Result<Option<ActivityKey>, Trouble> {
    key.map(|k| ActivityKey::parse(&k).map_err(|e| Trouble::new(e.to_string())))
        .transpose()
}
