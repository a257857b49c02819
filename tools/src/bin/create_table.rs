//! `create-table`: creates the ltisync table, exactly as `template.yaml`
//! defines it, on a local DynamoDB (for `cargo lambda watch` sessions).
//!
//! Usage: `create-table --endpoint http://127.0.0.1:5000 --table ltisync-local`

use ltisync_tests::dynamo::{client_for, TableDefinition};

#[tokio::main]
async fn main() {
    let mut endpoint = None;
    let mut table = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--endpoint", Some(e)) => endpoint = Some(e),
            ("--table", Some(t)) => table = Some(t),
            _ => usage(),
        }
    }
    let (Some(endpoint), Some(table)) = (endpoint, table) else {
        usage()
    };
    TableDefinition::from_repo()
        .create(&client_for(&endpoint), &table)
        .await;
    println!("created {table} on {endpoint}");
}

fn usage() -> ! {
    eprintln!("usage: create-table --endpoint URL --table NAME");
    std::process::exit(2);
}
