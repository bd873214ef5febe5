//! nginx as Render's router: one upstream per instance, traffic moved by rewriting the upstream
//! and reloading, the way Render shifts traffic to a new instance before stopping the old one.
//! Either a connection per request to the instances (nginx's default) or a pool of keep-alive
//! connections to them; every request is logged with the upstreams nginx tried, so a retry on
//! another instance (`proxy_next_upstream`) is counted, not hidden.

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
    keepalive: bool,
    child: Child,
}

impl Nginx {
    /// Writes the configuration for `ports` and starts nginx listening on `listen`, pooling
    /// upstream connections when `keepalive`.
    pub(super) fn start(
        bin: &Path,
        work: &Path,
        listen: u16,
        ports: &[u16],
        keepalive: bool,
    ) -> anyhow::Result<Self> {
        let conf = work.join("nginx.conf");
        std::fs::write(&conf, nginx_conf(work, listen, ports, keepalive))?;
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
            keepalive,
            child,
        })
    }

    /// Moves traffic to `ports`: rewrites the upstream and reloads.
    pub(super) async fn route_to(&self, ports: &[u16]) -> anyhow::Result<()> {
        std::fs::write(
            &self.conf,
            nginx_conf(&self.work, self.listen, ports, self.keepalive),
        )?;
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

/// Requests nginx sent to more than one instance (`proxy_next_upstream` after an error or a
/// timeout), counted from the access log after nginx has stopped: `$upstream_addr` lists every
/// instance tried, separated by `, ` (or ` : ` across upstream groups).
pub(super) fn retries(access_log: &str) -> usize {
    access_log
        .lines()
        .filter_map(|line| line.split('|').nth(1))
        .filter(|tried| tried.contains(", ") || tried.contains(" : "))
        .count()
}

/// The access log, one line per request: `$status|$upstream_addr|$upstream_status`.
pub(super) fn access_log_path(work: &Path) -> PathBuf {
    work.join("nginx-access.log")
}

/// With `keepalive`: pooled upstream connections (HTTP/1.1, `Connection` cleared), closed when
/// idle for 20 s, before the API's own idle limit (`HEADER_READ_TIMEOUT_SECS`, 30 s), so nginx
/// never reuses a connection the API is closing. Without: nginx's default, a new HTTP/1.0
/// connection per request.
fn nginx_conf(work: &Path, listen: u16, ports: &[u16], keepalive: bool) -> String {
    let servers: String = ports
        .iter()
        .map(|p| format!("    server 127.0.0.1:{p};\n"))
        .collect();
    let (pool, upstream_http) = if keepalive {
        (
            "    keepalive 64;\n    keepalive_timeout 20s;\n",
            "      proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n",
        )
    } else {
        ("", "")
    };
    format!(
        "worker_processes 1;\ndaemon off;\npid {pid};\nerror_log {work}/nginx-error.log warn;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n  log_format tries '$status|$upstream_addr|$upstream_status';\n  access_log {log} tries;\n\
           client_body_temp_path {work}/body;\n  proxy_temp_path {work}/proxy;\n\
           upstream api {{\n{servers}{pool}  }}\n\
           server {{\n    listen 127.0.0.1:{listen};\n    location / {{\n      proxy_pass http://api;\n\
               {upstream_http}      proxy_set_header X-Forwarded-Proto https;\n      proxy_next_upstream error timeout;\n    }}\n  }}\n}}\n",
        pid = work.join("nginx.pid").display(),
        log = access_log_path(work).display(),
        work = work.display(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_tried_on_two_instances_is_a_retry() {
        let log = "200|127.0.0.1:18401|200\n\
                   200|127.0.0.1:18401, 127.0.0.1:18402|502, 200\n\
                   502|127.0.0.1:18401 : 127.0.0.1:18402|502 : 502\n\
                   503|-|-\n";
        assert_eq!(retries(log), 2);
    }

    #[test]
    fn the_pool_is_configured_only_with_keepalive() {
        let work = Path::new("/tmp/w");
        let pooled = nginx_conf(work, 1, &[2, 3], true);
        assert!(pooled.contains("keepalive 64;"));
        assert!(pooled.contains("proxy_http_version 1.1;"));
        assert!(pooled.contains("proxy_set_header Connection \"\";"));
        let plain = nginx_conf(work, 1, &[2, 3], false);
        assert!(!plain.contains("keepalive"));
        assert!(!plain.contains("proxy_http_version"));
        for conf in [pooled, plain] {
            assert!(conf.contains("server 127.0.0.1:2;\n    server 127.0.0.1:3;"));
            assert!(conf.contains("access_log /tmp/w/nginx-access.log tries;"));
        }
    }
}
