//! A frontend build for the static-file tests, written to a temporary directory: what `npm run
//! build` leaves in `frontend/dist` (index.html and a hashed script, each with `.br` and `.gz`
//! beside it), plus the file names that test percent-decoding (a space, a `+`, non-ASCII) and a
//! nested file. The compressed variants are real gzip and brotli streams (stored, uncompressed
//! blocks: what matters here is HTTP, not the ratio), so any client could decode them.

use std::path::{Path, PathBuf};

/// The hashed script, its URL, and the other files' URLs (percent-encoded as a browser sends
/// them).
pub const SCRIPT_URL: &str = "/assets/app-1a2b3c4d.js";
pub const LOGO_URL: &str = "/assets/caf%C3%A9%20logo-1a2b.svg";
pub const PLUS_URL: &str = "/assets/a+b-1a2b.txt";
pub const NON_ASCII_URL: &str = "/assets/%E6%97%A5%E6%9C%AC-1a2b.txt";
pub const NESTED_URL: &str = "/docs/guide/intro.txt";

pub const LOGO: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 1 1\"/>\n";
pub const PLUS: &str = "a plus b\n";
pub const NON_ASCII: &str = "nihon\n";
pub const NESTED: &str = "a nested file\n";
/// Outside the build, next to it: no request may ever read it.
pub const SECRET: &str = "outside the build";

/// index.html: an inline script (whose hash the CSP carries) and the hashed script.
pub fn index_html() -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Release Flow</title>\
         <script>window.releaseFlow = {{ started: Date.now() }};</script>\
         <script type=\"module\" src=\"{SCRIPT_URL}\"></script></head>\
         <body><main id=\"app\">{}</main></body></html>\n",
        "Release Flow is loading. ".repeat(12)
    )
}

/// The hashed script: long enough for ranges to have room (580 bytes).
pub fn script() -> String {
    "console.log(\"release flow\");\n".repeat(20)
}

/// A build in a temporary directory; removed when dropped.
pub struct Dist {
    dir: tempfile::TempDir,
}

impl Dist {
    /// Writes the build (see the module documentation) under `DIR/dist`, and `DIR/secret.txt`
    /// beside it. Every directory is world-readable, as a static host's document root is, so a
    /// web server whose workers run as another user can read it too.
    pub fn new() -> Dist {
        let dir = tempfile::tempdir().expect("a directory for the build");
        let dist = dir.path().join("dist");
        for (relative, bytes, compress) in [
            ("index.html", index_html().into_bytes(), true),
            ("assets/app-1a2b3c4d.js", script().into_bytes(), true),
            ("assets/café logo-1a2b.svg", LOGO.as_bytes().to_vec(), false),
            ("assets/a+b-1a2b.txt", PLUS.as_bytes().to_vec(), false),
            ("assets/日本-1a2b.txt", NON_ASCII.as_bytes().to_vec(), false),
            ("docs/guide/intro.txt", NESTED.as_bytes().to_vec(), false),
        ] {
            let path = dist.join(relative);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            if compress {
                std::fs::write(with_suffix(&path, ".gz"), gzip(&bytes)).unwrap();
                std::fs::write(with_suffix(&path, ".br"), brotli(&bytes)).unwrap();
            }
            std::fs::write(&path, bytes).unwrap();
        }
        std::fs::write(dir.path().join("secret.txt"), SECRET).unwrap();
        readable_by_all(dir.path());
        Dist { dir }
    }

    /// The build directory (`FRONTEND_DIR`, or nginx's `root`).
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("dist")
    }

    /// The bytes of `relative` in the build (`assets/app-1a2b3c4d.js.gz`, say).
    pub fn read(&self, relative: &str) -> Vec<u8> {
        std::fs::read(self.path().join(relative)).unwrap()
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn readable_by_all(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            readable_by_all(&entry.path());
        } else {
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
}

/// A gzip member (RFC 1952) holding `data` in stored deflate blocks (RFC 1951 §3.2.4).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut blocks = data.chunks(0xffff).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        out.push(u8::from(blocks.peek().is_none()));
        let len = block.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// A brotli stream (RFC 7932) holding `data` (at most 64 KiB) in one uncompressed meta-block:
/// WBITS 16 (one 0 bit), ISLAST 0, MNIBBLES 4, MLEN-1 in 16 bits, ISUNCOMPRESSED 1, padding to
/// the byte, the bytes; then an empty last meta-block (ISLAST 1, ISLASTEMPTY 1).
pub fn brotli(data: &[u8]) -> Vec<u8> {
    assert!(data.len() <= 1 << 16, "one meta-block holds at most 64 KiB");
    if data.is_empty() {
        return vec![0b110];
    }
    let header: u32 = ((data.len() as u32 - 1) << 4) | (1 << 20);
    let mut out = header.to_le_bytes()[..3].to_vec();
    out.extend_from_slice(data);
    out.push(0b11);
    out
}

/// CRC-32 (ISO 3309, as gzip uses it).
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn the_checksum_is_gzips() {
    // The check value of the CRC-32 catalogue: CRC of the ASCII digits 1 to 9.
    assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
}
