//! The listener, the bounded thread-per-connection model, and the life of one
//! connection: wait, read a head, read a body, answer, repeat.

use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{
    IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs,
};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use super::address_group;

use super::request::{HeadLimits, parse_head};
use super::response::{encode, headers_are_writable};
use super::{Refusal, Request, Response, Service, Version};

/// The request body limit of the contract: 16 KiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 16 * 1024;

/// Every bound the server enforces. The defaults are the rules written in
/// docs/http.md; tests shorten the timeouts.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Connections served at once; one more is answered 503 and closed.
    pub max_connections: usize,
    /// Connections one peer (an IPv4 address or an IPv6 /64, see
    /// [`address_group`]) may hold at once; one more from that peer is
    /// answered 503 and closed, and other peers are unaffected.
    /// `usize::MAX` turns the cap off (behind a proxy every connection comes
    /// from the proxy, and the proxy enforces it).
    pub max_connections_per_peer: usize,
    /// The request line and headers together.
    pub max_head_bytes: usize,
    /// At most `MAX_HEADERS_CEILING` (64).
    pub max_headers: usize,
    /// A larger declared `Content-Length` gets 413 without being read.
    pub max_body_bytes: u64,
    /// From the first byte of a request to the end of its head.
    pub head_timeout: Duration,
    /// From the end of the head to the end of the body.
    pub body_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// How long writing one response may take.
    pub write_timeout: Duration,
    /// How long a stop waits for requests in flight.
    pub shutdown_grace: Duration,
    /// Each connection thread's stack. Small, because there may be hundreds.
    pub thread_stack_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 512,
            max_connections_per_peer: usize::MAX,
            max_head_bytes: 8 * 1024,
            max_headers: 64,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            head_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
            thread_stack_bytes: 256 * 1024,
        }
    }
}

/// How often a waiting connection looks up to see whether the server is
/// stopping, and how long the accept loop pauses after an accept error (for
/// example when file descriptors run out, the pause lets other connections
/// close instead of spinning).
const POLL_INTERVAL: Duration = Duration::from_millis(200);
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);
/// After refusing a request, how much of what the client still sends is read
/// and thrown away, and for how long, so that it sees the refusal rather than
/// a connection reset (a "lingering close").
const LINGER_BYTES: usize = 64 * 1024;
const LINGER_TIME: Duration = Duration::from_secs(1);

/// A bound listener, not yet serving.
pub struct Server {
    listener: TcpListener,
    limits: Limits,
    shared: Arc<Shared>,
}

/// What the accept loop and every connection thread share.
struct Shared {
    stopping: AtomicBool,
    active_connections: AtomicUsize,
    /// Open connections per peer group, only for peers holding any. Touched
    /// once when a connection opens and once when it closes, never per
    /// request.
    per_peer: Mutex<HashMap<IpAddr, usize>>,
    /// Where `stop` connects to wake the accept loop from `accept()`.
    wake_address: SocketAddr,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}

/// Stops a running server from another thread (a signal handler, a test).
#[derive(Clone)]
pub struct StopHandle {
    shared: Arc<Shared>,
}

impl StopHandle {
    /// Connections open now (for a metrics gauge).
    pub fn open_connections(&self) -> usize {
        self.shared.active_connections.load(Ordering::Relaxed)
    }

    /// Stop accepting, let idle connections go, and let requests in flight
    /// finish; `Server::serve` returns once they have (or the grace is up).
    pub fn stop(&self) {
        if self.shared.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        // accept() blocks; a connection to ourselves wakes it to see the flag.
        let _ = TcpStream::connect_timeout(&self.shared.wake_address, Duration::from_secs(1));
    }
}

impl Server {
    pub fn bind(address: impl ToSocketAddrs, limits: Limits) -> io::Result<Server> {
        let listener = TcpListener::bind(address)?;
        let bound = listener.local_addr()?;
        let wake_ip = match bound.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let shared = Arc::new(Shared {
            stopping: AtomicBool::new(false),
            active_connections: AtomicUsize::new(0),
            per_peer: Mutex::new(HashMap::new()),
            wake_address: SocketAddr::new(wake_ip, bound.port()),
        });
        Ok(Server {
            listener,
            limits,
            shared,
        })
    }

    /// The bound address, with the real port when port 0 was asked for.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Serves until stopped, then waits for requests in flight.
    pub fn serve<S: Service>(self, service: S) -> io::Result<()> {
        let service = Arc::new(service);
        let limits = Arc::new(self.limits);
        let mut error_log = RateLimitedLog::default();

        loop {
            let accepted = self.listener.accept();
            if self.shared.stopping() {
                break;
            }
            match accepted {
                Ok((stream, peer)) => start_connection(
                    stream,
                    peer,
                    &self.shared,
                    &limits,
                    &service,
                    &mut error_log,
                ),
                Err(error) => {
                    error_log.log(&*service, &format!("http: accept failed: {error}"));
                    thread::sleep(ACCEPT_ERROR_PAUSE);
                }
            }
        }

        // Closing the listener makes new connection attempts fail at once
        // instead of queueing behind a server that will not answer them.
        drop(self.listener);
        let deadline = Instant::now() + limits.shutdown_grace;
        while self.shared.active_connections.load(Ordering::SeqCst) > 0 && Instant::now() < deadline
        {
            thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
}

/// Logs at most one line a second, so that a flood of accept errors cannot
/// flood the log too.
#[derive(Default)]
struct RateLimitedLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    fn log<S: Service>(&mut self, service: &S, message: &str) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < Duration::from_secs(1))
        {
            self.suppressed += 1;
            return;
        }
        if self.suppressed > 0 {
            service.log_error(&format!(
                "{message} (and {} more since the last report)",
                self.suppressed
            ));
        } else {
            service.log_error(message);
        }
        self.last = Some(now);
        self.suppressed = 0;
    }
}

/// Gives the connection a thread of its own, or refuses it when all slots are
/// taken. Only this (accept) thread takes slots, so the check cannot race.
fn start_connection<S: Service>(
    stream: TcpStream,
    peer: SocketAddr,
    shared: &Arc<Shared>,
    limits: &Arc<Limits>,
    service: &Arc<S>,
    error_log: &mut RateLimitedLog,
) {
    if shared.active_connections.load(Ordering::SeqCst) >= limits.max_connections {
        refuse_overloaded(stream, &**service);
        return;
    }
    let group = address_group(peer.ip());
    {
        let mut per_peer = shared
            .per_peer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let held = per_peer.entry(group).or_insert(0);
        if *held >= limits.max_connections_per_peer {
            drop(per_peer);
            refuse_overloaded(stream, &**service);
            return;
        }
        *held += 1;
    }
    shared.active_connections.fetch_add(1, Ordering::SeqCst);
    let slot = ConnectionSlot {
        shared: Arc::clone(shared),
        group,
    };
    let connection = Connection {
        stream,
        peer,
        buffer: Vec::new(),
        limits: Arc::clone(limits),
        shared: Arc::clone(shared),
    };
    let service_for_thread = Arc::clone(service);
    let spawned = thread::Builder::new()
        .name("http-connection".into())
        .stack_size(limits.thread_stack_bytes)
        .spawn(move || {
            let _slot = slot;
            connection.run(&*service_for_thread);
        });
    if let Err(error) = spawned {
        // The closure, and with it the stream and the slot, is dropped: the
        // client sees the connection close rather than wait.
        error_log.log(
            &**service,
            &format!("http: cannot start a connection thread: {error}"),
        );
    }
}

/// Gives a connection slot back however its thread ends, panics included.
struct ConnectionSlot {
    shared: Arc<Shared>,
    group: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut per_peer = self
            .shared
            .per_peer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(held) = per_peer.get_mut(&self.group) {
            *held -= 1;
            if *held == 0 {
                per_peer.remove(&self.group);
            }
        }
        drop(per_peer);
        self.shared
            .active_connections
            .fetch_sub(1, Ordering::SeqCst);
    }
}

/// Answers 503 on the accept thread without ever blocking it: the socket is
/// non-blocking, and a few hundred bytes always fit in a fresh socket's send
/// buffer.
fn refuse_overloaded<S: Service>(mut stream: TcpStream, service: &S) {
    let mut response = service.refusal(Refusal::Overloaded);
    if response.header("Retry-After").is_none() {
        response.add_header("Retry-After", "1");
    }
    if stream.set_nonblocking(true).is_err() {
        return;
    }
    let mut discard = [0u8; 4096];
    while matches!(stream.read(&mut discard), Ok(n) if n > 0) {}
    let _ = stream.write(&encode(&response, true, Some("close")));
    let _ = stream.shutdown(Shutdown::Write);
}

/// The outcome of waiting for more bytes.
enum Received {
    Bytes,
    Closed,
    TimedOut,
}

/// Why a request could not be read: the client went away (close silently),
/// or the layer must answer a refusal and close.
enum Unreadable {
    Gone,
    Refused(Refusal),
}

struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    /// Bytes received and not yet consumed: the rest of a head, a body, or
    /// pipelined requests. Never more than a head or body plus one read.
    buffer: Vec<u8>,
    limits: Arc<Limits>,
    shared: Arc<Shared>,
}

impl Connection {
    fn run<S: Service>(mut self, service: &S) {
        let _ = self.stream.set_nodelay(true);
        loop {
            if self.buffer.is_empty() && !self.wait_for_next_request() {
                return;
            }
            let (request, client_keeps_alive) = match self.read_request() {
                Ok(read) => read,
                Err(Unreadable::Gone) => return,
                Err(Unreadable::Refused(refusal)) => return self.refuse(service, refusal),
            };

            let keep_alive = client_keeps_alive && !self.shared.stopping();
            let (response, keep_alive) = match call(service, &request) {
                Some(response) => (response, keep_alive),
                None => (service.refusal(Refusal::InternalError), false),
            };
            let connection_header = match (keep_alive, request.version) {
                (false, _) => Some("close"),
                (true, Version::Http10) => Some("keep-alive"),
                (true, Version::Http11) => None,
            };
            let bytes = encode(&response, request.method != "HEAD", connection_header);
            if !self.write_all(&bytes) || !keep_alive {
                return;
            }
        }
    }

    /// Waits silently for the first byte of the next request: an idle
    /// connection gets no unsolicited response when it is closed. Returns
    /// false when the connection should close.
    fn wait_for_next_request(&mut self) -> bool {
        let idle_deadline = Instant::now() + self.limits.idle_timeout;
        loop {
            if self.shared.stopping() {
                return false;
            }
            let slice_end = idle_deadline.min(Instant::now() + POLL_INTERVAL);
            match self.read_more(slice_end) {
                Received::Bytes => return true,
                Received::Closed => return false,
                Received::TimedOut if Instant::now() >= idle_deadline => return false,
                Received::TimedOut => continue,
            }
        }
    }

    /// Reads one whole request, and whether the client lets the connection
    /// stay open after it.
    fn read_request(&mut self) -> Result<(Request, bool), Unreadable> {
        let head_limits = HeadLimits {
            max_head_bytes: self.limits.max_head_bytes,
            max_headers: self.limits.max_headers,
        };
        // The deadline runs from the first byte, whatever the client's pace.
        let head_deadline = Instant::now() + self.limits.head_timeout;
        let head = loop {
            match parse_head(&self.buffer, head_limits) {
                Ok(Some((head, used))) => {
                    self.buffer.drain(..used);
                    break head;
                }
                Ok(None) => self.read_before(head_deadline)?,
                Err(refusal) => return Err(Unreadable::Refused(refusal)),
            }
        };

        // Refused before a single body byte is read or buffered.
        if head.body_length > self.limits.max_body_bytes {
            return Err(Unreadable::Refused(Refusal::PayloadTooLarge));
        }
        // Fits in usize: it is at most max_body_bytes.
        let body_length = head.body_length as usize;
        let body_deadline = Instant::now() + self.limits.body_timeout;
        while self.buffer.len() < body_length {
            self.read_before(body_deadline)?;
        }
        let pipelined = self.buffer.split_off(body_length);
        let body = std::mem::replace(&mut self.buffer, pipelined);

        let request = Request {
            method: head.method,
            path: head.path,
            query: head.query,
            version: head.version,
            headers: head.headers,
            body,
            peer: self.peer,
        };
        Ok((request, head.keep_alive))
    }

    /// Reads more of a request that has begun; running out of time is a 408.
    fn read_before(&mut self, deadline: Instant) -> Result<(), Unreadable> {
        match self.read_more(deadline) {
            Received::Bytes => Ok(()),
            Received::Closed => Err(Unreadable::Gone),
            Received::TimedOut => Err(Unreadable::Refused(Refusal::Timeout)),
        }
    }

    /// Appends whatever arrives next to the buffer, waiting until `deadline`.
    fn read_more(&mut self, deadline: Instant) -> Received {
        let mut chunk = [0u8; 4096];
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Received::TimedOut;
            }
            if self.stream.set_read_timeout(Some(deadline - now)).is_err() {
                return Received::Closed;
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Received::Closed,
                Ok(n) => {
                    self.buffer.extend_from_slice(&chunk[..n]);
                    return Received::Bytes;
                }
                // A timeout may fire a little early; the deadline decides.
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(_) => return Received::Closed,
            }
        }
    }

    /// Writes the whole response before the write deadline, or gives up.
    fn write_all(&mut self, mut bytes: &[u8]) -> bool {
        let deadline = Instant::now() + self.limits.write_timeout;
        while !bytes.is_empty() {
            let now = Instant::now();
            if now >= deadline || self.stream.set_write_timeout(Some(deadline - now)).is_err() {
                return false;
            }
            match self.stream.write(bytes) {
                Ok(0) => return false,
                Ok(n) => bytes = &bytes[n..],
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(_) => return false,
            }
        }
        true
    }

    /// Answers a refusal, then closes without resetting the connection.
    fn refuse<S: Service>(mut self, service: &S, refusal: Refusal) {
        let response = service.refusal(refusal);
        if !self.write_all(&encode(&response, true, Some("close"))) {
            return;
        }
        // Closing a socket with unread input makes the kernel send a reset,
        // which can destroy the response before the client reads it. So shut
        // our side, then read and drop a bounded amount for a short time.
        let _ = self.stream.shutdown(Shutdown::Write);
        let deadline = Instant::now() + LINGER_TIME;
        let mut discarded = 0;
        while discarded < LINGER_BYTES {
            let before = self.buffer.len();
            if !matches!(self.read_more(deadline), Received::Bytes) {
                break;
            }
            discarded += self.buffer.len() - before;
            self.buffer.clear();
        }
    }
}

/// Calls the handler, turning a panic or an unwritable response into `None`.
fn call<S: Service>(service: &S, request: &Request) -> Option<Response> {
    match catch_unwind(AssertUnwindSafe(|| service.handle(request))) {
        Ok(response) if headers_are_writable(&response) => Some(response),
        Ok(_) => {
            service.log_error(&format!(
                "http: handler for {} {} returned a header that cannot be written; answered 500",
                request.method, request.path
            ));
            None
        }
        Err(_) => {
            service.log_error(&format!(
                "http: handler for {} {} panicked; answered 500",
                request.method, request.path
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    //! The parts of the model the real binary cannot show: a handler that
    //! panics or returns an unwritable header. The rest is tested against
    //! the binary in tests/it/http_layer.rs.

    use super::*;

    struct Faulty;

    impl Service for Faulty {
        fn handle(&self, request: &Request) -> Response {
            match request.path.as_str() {
                "/panic" => panic!("a handler bug"),
                "/split" => Response::new(200).with_header("X-Injected", "a\r\nSet-Cookie: evil=1"),
                _ => Response::new(200).with_body("fine"),
            }
        }

        fn refusal(&self, refusal: Refusal) -> Response {
            Response::new(refusal.status()).with_body(format!("refused {}", refusal.status()))
        }

        fn log_error(&self, _message: &str) {}
    }

    fn start() -> (SocketAddr, StopHandle, thread::JoinHandle<io::Result<()>>) {
        let server = Server::bind("127.0.0.1:0", Limits::default()).unwrap();
        let address = server.local_addr().unwrap();
        let stop = server.stop_handle();
        let running = thread::spawn(move || server.serve(Faulty));
        (address, stop, running)
    }

    fn get(address: SocketAddr, path: &str) -> String {
        let mut stream = TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        text
    }

    #[test]
    fn a_panicking_handler_gets_500_and_the_server_carries_on() {
        let (address, stop, running) = start();
        let answer = get(address, "/panic");
        assert!(answer.starts_with("HTTP/1.1 500 "), "{answer}");
        assert!(answer.contains("Connection: close\r\n"));
        assert!(answer.ends_with("refused 500"));
        assert!(
            !answer.contains("a handler bug"),
            "no panic text reaches the client"
        );
        let mut stream = TcpStream::connect(address).unwrap();
        write!(
            stream,
            "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 200 ") && text.ends_with("fine"),
            "{text}"
        );
        stop.stop();
        running.join().unwrap().unwrap();
    }

    #[test]
    fn a_header_with_cr_lf_is_never_written() {
        let (address, stop, running) = start();
        let answer = get(address, "/split");
        assert!(answer.starts_with("HTTP/1.1 500 "), "{answer}");
        assert!(!answer.contains("evil"));
        stop.stop();
        running.join().unwrap().unwrap();
    }

    #[test]
    fn accept_errors_are_logged_at_most_once_a_second() {
        struct Recorder(std::sync::Mutex<Vec<String>>);
        impl Service for Recorder {
            fn handle(&self, _: &Request) -> Response {
                Response::new(200)
            }
            fn refusal(&self, refusal: Refusal) -> Response {
                Response::new(refusal.status())
            }
            fn log_error(&self, message: &str) {
                self.0.lock().unwrap().push(message.to_string());
            }
        }
        let recorder = Recorder(std::sync::Mutex::new(Vec::new()));
        let mut log = RateLimitedLog::default();
        for _ in 0..1000 {
            log.log(&recorder, "accept failed: too many open files");
        }
        assert_eq!(recorder.0.lock().unwrap().len(), 1);
        log.last = Some(Instant::now() - Duration::from_secs(2));
        log.log(&recorder, "accept failed: too many open files");
        let lines = recorder.0.lock().unwrap();
        assert_eq!(lines.len(), 2);
        assert!(lines[1].contains("and 999 more"), "{}", lines[1]);
    }
}
