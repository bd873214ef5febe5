//! nginx as Render's router: one upstream per instance, traffic moved by rewriting the upstream
//! and reloading, the way Render shifts traffic to a new instance before stopping the old one.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{bail, Context};
use tokio::process::Child;

/// A running nginx master whose configuration lives in the rehearsal's scratch directory.
pub(super) struct Nginx {
    bin: PathBuf,
    conf: PathBuf,
    work: PathBuf,
    listen: u16,
    child: Child,
}

impl Nginx {
    /// Writes the configuration for `ports` and starts nginx listening on `listen`.
    pub(super) fn start(
        bin: &Path,
        work: &Path,
        listen: u16,
        ports: &[u16],
    ) -> anyhow::Result<Self> {
        let conf = work.join("nginx.conf");
        std::fs::write(&conf, nginx_conf(work, listen, ports))?;
        let child = tokio::process::Command::new(bin)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(work.join("nginx-error.log"))
            .kill_on_drop(true)
            .spawn()
            .context("start nginx")?;
        Ok(Self {
            bin: bin.to_owned(),
            conf,
            work: work.to_owned(),
            listen,
            child,
        })
    }

    /// Moves traffic to `ports`: rewrites the upstream and reloads.
    pub(super) async fn route_to(&self, ports: &[u16]) -> anyhow::Result<()> {
        std::fs::write(&self.conf, nginx_conf(&self.work, self.listen, ports))?;
        let status = tokio::process::Command::new(&self.bin)
            .arg("-c")
            .arg(&self.conf)
            .args(["-s", "reload"])
            .status()
            .await?;
        if !status.success() {
            bail!("nginx -s reload failed");
        }
        // The new workers take over within moments; the old ones finish their requests.
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(())
    }

    /// Stops nginx, waiting up to 5 s; errors are ignored (this is clean-up).
    pub(super) async fn quit(mut self) {
        // SIGQUIT via `-s quit` stops the workers too; killing the master alone would orphan them.
        let _ = tokio::process::Command::new(&self.bin)
            .arg("-c")
            .arg(&self.conf)
            .args(["-s", "quit"])
            .status()
            .await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

/// Pooled upstream connections, closed when idle for 20 s, before the API's own idle limit
/// (`HEADER_READ_TIMEOUT_SECS`, 30 s) so nginx never reuses a connection the API is closing.
fn nginx_conf(work: &Path, listen: u16, ports: &[u16]) -> String {
    let servers: String = ports
        .iter()
        .map(|p| format!("    server 127.0.0.1:{p};\n"))
        .collect();
    format!(
        "worker_processes 1;\ndaemon off;\npid {pid};\nerror_log {work}/nginx-error.log warn;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {work}/body;\n  proxy_temp_path {work}/proxy;\n\
           upstream api {{\n{servers}    keepalive 64;\n    keepalive_timeout 20s;\n  }}\n\
           server {{\n    listen 127.0.0.1:{listen};\n    location / {{\n      proxy_pass http://api;\n\
               proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n\
               proxy_set_header X-Forwarded-Proto https;\n      proxy_next_upstream error timeout;\n    }}\n  }}\n}}\n",
        pid = work.join("nginx.pid").display(),
        work = work.display(),
    )
}
