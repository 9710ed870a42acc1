//! Starts the real `auth-server` binary on a free port with a temporary
//! database, and talks HTTP/1.1 to it over plain TCP.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const PASSWORD: &str = "correct horse battery staple";

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

/// A running server, killed and cleaned up when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    /// Every line the server wrote to stderr (its log) so far.
    pub log: Arc<Mutex<Vec<String>>>,
    pub env: Vec<(String, String)>,
}

/// A fresh temporary directory for one server's database.
pub fn temp_dir() -> PathBuf {
    let n = NEXT_DIR.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("auth-server-test-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_auth-server")
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// Starts with the test defaults plus `env` (which wins).
    pub fn start_with(env: &[(&str, &str)]) -> Server {
        Server::start_in(temp_dir(), env)
    }

    pub fn start_in(dir: PathBuf, env: &[(&str, &str)]) -> Server {
        let mut all: Vec<(String, String)> = vec![
            ("HOST".into(), "127.0.0.1".into()),
            ("PORT".into(), "0".into()),
            (
                "DATABASE_PATH".into(),
                dir.join("auth.db").display().to_string(),
            ),
            ("BCRYPT_COST".into(), "4".into()),
            // A loaded machine (the bcrypt workers run at nice +10) may
            // take seconds for what takes milliseconds idle: the tests
            // check what the server answers, so they give the queue the
            // longest budget; a test of the budget sets its own.
            ("HASH_QUEUE_WAIT_SECS".into(), "60".into()),
        ];
        for (k, v) in env {
            all.retain(|(name, _)| name != k);
            all.push((k.to_string(), v.to_string()));
        }
        Server::spawn(Command::new(binary()), dir, all)
    }

    /// Starts `command` (the binary, or a shell wrapping it) with `env`.
    pub fn spawn(mut command: Command, dir: PathBuf, env: Vec<(String, String)>) -> Server {
        command
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("start auth-server");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        // Keep draining stdout so the server can never block writing to it.
        std::thread::spawn(move || for _ in stdout.lines() {});
        let Some(address) = first.trim().strip_prefix("listening on http://") else {
            let _ = child.kill();
            std::thread::sleep(Duration::from_millis(100));
            panic!(
                "unexpected first line {first:?}; log: {:?}",
                log.lock().unwrap()
            );
        };
        // The `started` line goes to stderr before `listening` goes to
        // stdout; wait until the reader thread has it, so tests that read
        // it never race the pipe.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !log.lock().unwrap().iter().any(|l| l.contains("started"))
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        Server {
            addr: address.parse().unwrap(),
            child,
            dir,
            log,
            env,
        }
    }

    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream
    }

    /// Sends one request on a new connection and reads the response.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        let mut stream = self.connect();
        let mut text = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
        if !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("host"))
        {
            text.push_str("Host: test\r\n");
        }
        for (name, value) in headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() {
            text.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        text.push_str("\r\n");
        text.push_str(body);
        stream.write_all(text.as_bytes()).unwrap();
        read_reply(&mut stream, method == "HEAD").expect("a response")
    }

    pub fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        match cookie {
            Some(cookie) => self.request("GET", path, &[("Cookie", cookie)], ""),
            None => self.request("GET", path, &[], ""),
        }
    }

    /// POST with a JSON body (and a cookie, if given).
    pub fn post(&self, path: &str, body: &str, cookie: Option<&str>) -> Reply {
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(cookie) = cookie {
            headers.push(("Cookie", cookie));
        }
        self.request("POST", path, &headers, body)
    }

    pub fn register(&self, username: &str, password: &str) -> Reply {
        let body = serde_json::json!({
            "username": username,
            "email": format!("{username}@example.com"),
            "password": password,
        });
        self.post("/api/register", &body.to_string(), None)
    }

    /// Logs in and returns the `sid=...` cookie pair.
    pub fn login(&self, identifier: &str, password: &str) -> String {
        let body = serde_json::json!({ "username": identifier, "password": password });
        let reply = self.post("/api/login", &body.to_string(), None);
        assert_eq!(reply.status, 200, "login failed: {}", reply.text());
        reply.session_cookie().expect("a session cookie")
    }

    /// Registers a user and logs in.
    pub fn signed_in_user(&self, username: &str) -> String {
        assert_eq!(self.register(username, PASSWORD).status, 201);
        self.login(username, PASSWORD)
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Whether the log comes to contain `text` within five seconds: a line
    /// the server wrote before answering may still be on its way here.
    pub fn log_shows(&self, text: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.log_text().contains(text) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }

    /// The log once it holds the line `reply`'s request ended with. The
    /// server writes that line before it answers, after every other line the
    /// request wrote, but the line can still be on its way here: reading
    /// the log at once would race the reader thread on a busy machine.
    pub fn log_through(&self, reply: &Reply) -> String {
        let id = reply.header("X-Request-Id").expect("a request id");
        let end = format!("request_id={id}");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log_text();
            if log
                .lines()
                .any(|l| l.contains(" request method=") && l.contains(&end))
            {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "no request line for {id} in:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends a signal with kill(1) and waits for the exit, up to `limit`.
    pub fn signal_and_wait(&mut self, signal: &str, limit: Duration) -> Option<ExitStatus> {
        Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .unwrap();
        self.wait_for_exit(limit)
    }

    pub fn wait_for_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Server {
    /// Kills the server at once (SIGKILL, as a crash would) and hands back
    /// its directory, which is then not deleted.
    pub fn kill_keeping_dir(self) -> PathBuf {
        let mut server = std::mem::ManuallyDrop::new(self);
        let _ = server.child.kill();
        let _ = server.child.wait();
        std::mem::take(&mut server.dir)
    }

    /// Stops the server cleanly (SIGTERM, as systemd would) and hands back
    /// its directory, which is then not deleted.
    pub fn stop_keeping_dir(mut self) -> PathBuf {
        let status = self.signal_and_wait("TERM", Duration::from_secs(15));
        assert!(
            status.is_some_and(|s| s.success()),
            "clean stop: {status:?}"
        );
        self.kill_keeping_dir()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A parsed response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| panic!("not JSON: {:?}", self.text()))
    }

    /// `error.code` of an error envelope.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// The passkey sign-in ticket it sets, as a `Cookie` header's pair.
    pub fn ticket_cookie(&self) -> Option<String> {
        self.cookie("passkey_challenge")
    }

    /// The cookie `name` it sets, as a `Cookie` header's pair.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(header, _)| header.eq_ignore_ascii_case("set-cookie"))
            .filter_map(|(_, value)| value.split(';').next())
            .find(|pair| pair.starts_with(&format!("{name}=")))
            .map(|pair| pair.trim().to_string())
    }

    /// The `sid=<token>` pair from `Set-Cookie`, if one was set.
    pub fn session_cookie(&self) -> Option<String> {
        let set = self.header("Set-Cookie")?;
        let pair = set.split(';').next()?.trim();
        (pair.starts_with("sid=") && pair.len() > 4).then(|| pair.to_string())
    }
}

/// Reads one response: the head, then `Content-Length` bytes (none for HEAD).
/// `None` when the connection closed before a whole response arrived.
pub fn read_reply(stream: &mut impl Read, head_only: bool) -> Option<Reply> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    let text = String::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next()?;
    assert!(
        status_line.starts_with("HTTP/1.1 "),
        "status line {status_line:?}"
    );
    let status = status_line[9..12].parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.to_string(), v.trim().to_string())
        })
        .collect();
    let content_length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse::<usize>().unwrap());
    // 204 has no body and no Content-Length (RFC 9110 §8.6); every other
    // response has one.
    let length = if status == 204 {
        assert_eq!(content_length, None, "204 with Content-Length");
        0
    } else {
        content_length.expect("every response but 204 has Content-Length")
    };
    let mut body = vec![0u8; if head_only { 0 } else { length }];
    stream.read_exact(&mut body).ok()?;
    Some(Reply {
        status,
        headers,
        body,
    })
}

/// Reads until the peer closes (or the read timeout passes) and returns it all.
pub fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return all,
            Ok(n) => all.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Runs `auth-server admin ...` on the database in `dir`, with `stdin`
/// piped in; returns the exit code, stdout and stderr.
pub fn admin(dir: &std::path::Path, args: &[&str], stdin: &str) -> (Option<i32>, String, String) {
    admin_with(dir, &[], args, stdin)
}

/// `admin`, with more settings in its environment.
pub fn admin_with(
    dir: &std::path::Path,
    env: &[(&str, &str)],
    args: &[&str],
    stdin: &str,
) -> (Option<i32>, String, String) {
    let mut child = Command::new(binary())
        .arg("admin")
        .args(args)
        .env_clear()
        .env("DATABASE_PATH", dir.join("auth.db"))
        .env("BCRYPT_COST", "4")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A connection from `source` (a loopback address) to `server`.
pub fn connect_from(source: &str, server: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let source: SocketAddr = format!("{source}:0").parse().unwrap();
    socket.bind(&source.into()).unwrap();
    socket.connect(&server.into()).unwrap();
    let stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// A base32 secret (as set-up shows it) back to bytes.
pub fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut buffer, mut bits, mut out) = (0u64, 0, Vec::new());
    for c in text.bytes() {
        buffer = (buffer << 5) | ALPHABET.iter().position(|&a| a == c).unwrap() as u64;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// The 6-digit code of `secret` for the 30-second step `offset` steps from
/// now.
pub fn totp_code(secret: &[u8], offset: i64) -> String {
    let clock = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
    };
    // A code one step off is good only while the server's clock is in the
    // same step as ours: close to a step's end, wait for the next one.
    let into_step = clock().as_millis() % 30_000;
    if offset != 0 && into_step > 28_000 {
        std::thread::sleep(Duration::from_millis((30_100 - into_step) as u64));
    }
    let now = clock().as_secs() as i64;
    let step = (now / 30 + offset) as u64;
    let mut mac = <hmac::Hmac<sha1::Sha1> as hmac::KeyInit>::new_from_slice(secret).unwrap();
    hmac::Mac::update(&mut mac, &step.to_be_bytes());
    let d = hmac::Mac::finalize(mac).into_bytes();
    let o = (d[19] & 0xf) as usize;
    let v = u32::from_be_bytes([d[o] & 0x7f, d[o + 1], d[o + 2], d[o + 3]]) % 1_000_000;
    format!("{v:06}")
}

/// A free loopback port (bound, then let go).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on the metrics listener at `port`: status, content type, body.
pub fn scrape(port: u16, path: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Type: "))
        .unwrap_or("")
        .to_string();
    (status, content_type, body.to_string())
}

/// How many bcrypt hashes and verifies the server at metrics `port` has
/// finished: the count of `auth_hash_seconds`.
pub fn hashes_done(port: u16) -> u64 {
    let (_, _, body) = scrape(port, "/metrics");
    body.lines()
        .find_map(|line| line.strip_prefix("auth_hash_seconds_count "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}
