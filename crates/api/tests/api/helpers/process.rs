//! The `api` binary as a child process, the way Render runs it: [`ApiCommand`] sets the variables
//! (and nothing else from the test's environment), the arguments and standard input, and runs it
//! in a temporary working directory of its own, so no `.env` file is picked up. Then either
//! [`ApiCommand::run`] to completion (status, stdout, stderr), or [`ApiCommand::start`] a server
//! and learn its address from the JSON "listening" log line; [`RunningApi`] sends it signals and
//! waits for it to exit.

use std::{
    collections::BTreeMap,
    ffi::OsString,
    net::SocketAddr,
    path::Path,
    process::{ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader},
    process::{Child, Command},
};

/// How long a command run to completion may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a server may take to log "listening".
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A command line for the `api` binary, built up and then run or started.
pub struct ApiCommand {
    vars: BTreeMap<String, OsString>,
    args: Vec<String>,
    stdin: Option<Vec<u8>>,
    dir: tempfile::TempDir,
}

/// A command run to completion.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// The exit code (`None` if a signal ended the process).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

impl ApiCommand {
    /// No variables but `PATH`, no arguments, no input, in a fresh temporary directory.
    pub fn new() -> ApiCommand {
        let mut vars = BTreeMap::new();
        vars.insert(
            "PATH".to_owned(),
            std::env::var_os("PATH").unwrap_or_default(),
        );
        ApiCommand {
            vars,
            args: Vec::new(),
            stdin: None,
            dir: tempfile::tempdir().expect("a working directory for the api"),
        }
    }

    pub fn var(mut self, name: &str, value: impl Into<OsString>) -> ApiCommand {
        self.vars.insert(name.to_owned(), value.into());
        self
    }

    pub fn args<S: AsRef<str>>(mut self, args: impl IntoIterator<Item = S>) -> ApiCommand {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Bytes written to standard input, which is then closed.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> ApiCommand {
        self.stdin = Some(bytes.into());
        self
    }

    /// The working directory, removed with the command (or with the [`RunningApi`]).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `program` with this command's variables, in its working directory, output piped, killed
    /// when dropped.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command
            .env_clear()
            .envs(&self.vars)
            .current_dir(self.dir.path())
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    fn spawn(&self, mut command: Command) -> Child {
        let mut child = command.spawn().expect("start the api binary");
        if let Some(bytes) = self.stdin.clone() {
            let mut stdin = child.stdin.take().unwrap();
            // Written from a task, so a child that does not read cannot block the test.
            tokio::spawn(async move {
                let _ = stdin.write_all(&bytes).await;
            });
        }
        child
    }

    /// Runs to completion (at most a minute) and returns the status and the output.
    pub async fn run(self) -> Finished {
        let mut command = self.command(env!("CARGO_BIN_EXE_api"));
        command.args(&self.args);
        let child = self.spawn(command);
        let output = tokio::time::timeout(RUN_TIMEOUT, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("api {:?} still running after {RUN_TIMEOUT:?}", self.args))
            .expect("wait for the api binary");
        Finished {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Starts `program args…` in place of the binary, for a wrapper that must run the binary
    /// itself (inside a namespace, say): with this command's variables and `API` naming the
    /// binary, in its working directory, standard input and output piped, standard error
    /// inherited. This command's arguments and input are not used.
    pub fn spawn_wrapped(self, program: &str, args: &[&str]) -> WrappedApi {
        let mut command = self.command(program);
        command
            .args(args)
            .env("API", env!("CARGO_BIN_EXE_api"))
            .stdin(Stdio::piped())
            .stderr(Stdio::inherit());
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {program}: {e}"));
        WrappedApi {
            child,
            _dir: self.dir,
        }
    }

    /// Starts a server (`PORT=0` and `LOG_FORMAT=json` unless set) and waits for its "listening"
    /// line. Its output is kept (see [`RunningApi::output`]); it is killed if still running when
    /// the [`RunningApi`] is dropped.
    pub async fn start(mut self) -> RunningApi {
        for (name, default) in [("PORT", "0"), ("LOG_FORMAT", "json")] {
            self.vars
                .entry(name.to_owned())
                .or_insert_with(|| default.into());
        }
        let mut command = self.command(env!("CARGO_BIN_EXE_api"));
        command.args(&self.args);
        let mut child = self.spawn(command);
        let pid = child.id().expect("a running child has a pid");
        let output = Arc::new(Mutex::new(String::new()));
        let (listening_tx, listening_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(collect(
            child.stdout.take().unwrap(),
            output.clone(),
            Some(listening_tx),
        ));
        tokio::spawn(collect(child.stderr.take().unwrap(), output.clone(), None));
        let address = match tokio::time::timeout(START_TIMEOUT, listening_rx).await {
            Ok(Ok(address)) => address,
            Ok(Err(_)) => panic!(
                "the api exited before listening:\n{}",
                output.lock().unwrap()
            ),
            Err(_) => panic!(
                "the api did not log \"listening\" within {START_TIMEOUT:?}:\n{}",
                output.lock().unwrap()
            ),
        };
        RunningApi {
            child,
            pid,
            address: address.parse().expect("a socket address"),
            output,
            _dir: self.dir,
        }
    }
}

/// Appends each line of `stream` to `output` until it closes; the first "listening" address goes
/// to `listening`. Draining the pipe also keeps the child from blocking on a full one.
async fn collect(
    stream: impl AsyncRead + Unpin,
    output: Arc<Mutex<String>>,
    mut listening: Option<tokio::sync::oneshot::Sender<String>>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(address) = listening_address(&line) {
            if let Some(tx) = listening.take() {
                let _ = tx.send(address);
            }
        }
        let mut output = output.lock().unwrap();
        output.push_str(&line);
        output.push('\n');
    }
}

/// A server started by [`ApiCommand::start`].
pub struct RunningApi {
    child: Child,
    pid: u32,
    pub address: SocketAddr,
    output: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl RunningApi {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Everything it has written to stdout and stderr so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Sends `signal` (`libc::SIGTERM`, ...) to the process.
    pub fn signal(&self, signal: libc::c_int) {
        send_signal(self.pid, signal).expect("signal the api process");
    }

    /// SIGTERM: what Render sends first when it stops an instance.
    pub fn terminate(&self) {
        self.signal(libc::SIGTERM);
    }

    /// Waits for the process to exit; panics, with its output, if it has not within `within`.
    pub async fn wait(&mut self, within: Duration) -> ExitStatus {
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(status) => status.expect("wait for the api process"),
            Err(_) => panic!("the api did not exit within {within:?}:\n{}", self.output()),
        }
    }

    /// SIGTERM, then the exit status and how long the process took to exit (at most `within`).
    pub async fn stop(&mut self, within: Duration) -> (ExitStatus, Duration) {
        let signalled = Instant::now();
        self.terminate();
        let status = self.wait(within).await;
        (status, signalled.elapsed())
    }
}

/// kill(2), behind a safe signature.
fn send_signal(pid: u32, signal: libc::c_int) -> std::io::Result<()> {
    let pid = libc::pid_t::try_from(pid).expect("a pid fits in pid_t");
    // SAFETY: kill(2) reads its two integer arguments and nothing else.
    if unsafe { libc::kill(pid, signal) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The `api` binary run by another program ([`ApiCommand::spawn_wrapped`]).
pub struct WrappedApi {
    /// Standard input and output are piped; killed when dropped.
    pub child: Child,
    /// The working directory, removed after the child is killed.
    _dir: tempfile::TempDir,
}

/// The address in the API's JSON "listening" log line, if `line` is that line.
pub fn listening_address(line: &str) -> Option<String> {
    let entry: serde_json::Value = serde_json::from_str(line).ok()?;
    (entry["message"] == "listening").then(|| entry["address"].as_str().unwrap().to_owned())
}
