//! The `api` binary as a child process.

/// The address in the API's JSON "listening" log line, if `line` is that line.
pub fn listening_address(line: &str) -> Option<String> {
    let entry: serde_json::Value = serde_json::from_str(line).ok()?;
    (entry["message"] == "listening").then(|| entry["address"].as_str().unwrap().to_owned())
}
