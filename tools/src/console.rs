//! How the demo and `make sam-local` print: a step's title, then what it
//! did, a line at a time.

/// Prints a step's title, after a blank line.
pub fn step(title: &str) {
    println!("\n== {title}");
}

/// Prints one line of what the current step did, indented under its title.
pub fn say(line: &str) {
    println!("   {line}");
}
