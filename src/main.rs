//! Start-up and shutdown: read the settings, open the database, bind, serve
//! until SIGINT or SIGTERM; or run an admin command. Everything else lives in
//! the library's modules.

#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use auth_core::accounts::{Accounts, oidc};
use auth_core::auth::passwords::MIN_PRODUCTION_COST;
use auth_core::storage::{Database, SCHEMA_VERSION};
use auth_core::support::clock;
use auth_core::support::config::Settings;
use auth_core::support::log::Logger;
use auth_core::support::metrics::Metrics;
use auth_core::support::{env_file, settings_table};
use auth_server::admin;
use auth_server::api::app::App;
use auth_server::api::metrics::MetricsService;
use auth_server::api::openapi;
use auth_server::api::router::ROUTES;
use auth_server::api::upstream;
use auth_server::http;
use auth_server::http::{Limits, Server, StopHandle};

/// How often the background upkeep runs (the sessions' last-seen times are
/// written behind at this pace, so after a crash a session may look idle up
/// to this much longer than it was), and how many of those between two
/// prunings of the audit trail (an hour).
const UPKEEP_INTERVAL: Duration = Duration::from_secs(30);
const UPKEEPS_PER_PRUNE: u32 = 120;
/// How often the access rules file and the unlocks the admin command left
/// are looked at: an edit or an unlock is in force within this long,
/// without a restart or a signal.
const WATCH_INTERVAL: Duration = Duration::from_secs(2);

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    // `--env-file FILE` comes first, before a subcommand, for `admin` too.
    let mut file_vars = HashMap::new();
    if args.first().is_some_and(|a| a == "--env-file") {
        let Some(path) = args.get(1).cloned() else {
            eprintln!("auth-server: --env-file needs a file\n{}", admin::USAGE);
            return ExitCode::from(2);
        };
        args.drain(..2);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) => {
                eprintln!("auth-server: cannot read {path}: {error}");
                return ExitCode::from(2);
            }
        };
        file_vars = match env_file::parse(&text) {
            Ok(vars) => vars,
            Err(error) => {
                eprintln!("auth-server: {path} line {}: {}", error.line, error.problem);
                return ExitCode::from(2);
            }
        };
    }
    match args.first().map(String::as_str) {
        None => {}
        Some("--help" | "-h") => {
            println!(
                "auth-server {}: a small authentication backend\n{}\n\n{}",
                env!("CARGO_PKG_VERSION"),
                admin::USAGE,
                settings_table::help_text()
            );
            return ExitCode::SUCCESS;
        }
        Some("--version" | "-V") => {
            println!("auth-server {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Some("--print-openapi") => {
            match args.get(1).map(String::as_str) {
                Some("--endpoint-table") => print!("{}", openapi::endpoint_table()),
                _ => print!("{}", openapi::text()),
            }
            return ExitCode::SUCCESS;
        }
        Some("--print-env-file") => {
            match args.get(1).map(String::as_str) {
                Some("--package") => print!("{}", settings_table::package_env_file()),
                _ => print!("{}", settings_table::env_file()),
            }
            return ExitCode::SUCCESS;
        }
        Some("admin") => {}
        Some(other) => {
            eprintln!("auth-server: unknown argument {other:?}\n{}", admin::USAGE);
            return ExitCode::from(2);
        }
    }

    // `admin rules check FILE` reads a file and nothing else.
    if args.first().is_some_and(|a| a == "admin")
        && let Some(code) = admin::run_without_database(&args[1..], None)
    {
        return code;
    }
    // Exit code 2 for a bad setting, as the contract says; 1 for anything
    // else that stops the server from starting. The process environment
    // wins over the file.
    let settings = match Settings::from_lookup(|name| {
        std::env::var(name)
            .ok()
            .or_else(|| file_vars.get(name).cloned())
    }) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("auth-server: {error}");
            return ExitCode::from(2);
        }
    };
    // The admin command never creates a database: run from the wrong
    // directory, it would make an empty ./auth.db and report success on it.
    let is_admin = args.first().is_some_and(|a| a == "admin");
    if is_admin && let Some(code) = admin::run_without_database(&args[1..], Some(&settings)) {
        return code;
    }
    let path = &settings.database_path;
    if is_admin && path.symlink_metadata().is_err() {
        eprintln!(
            "auth-server: no database at {} (set DATABASE_PATH or pass --env-file)",
            path.display()
        );
        return ExitCode::from(2);
    }
    let opened = match is_admin {
        true => Database::open_existing(path),
        false => Database::open(path),
    };
    let db = match opened {
        Ok(db) => db,
        Err(error) => {
            eprintln!(
                "auth-server: cannot open the database {}: {error}",
                path.display()
            );
            return ExitCode::from(1);
        }
    };
    if is_admin {
        let log = Logger::new(settings.log_format);
        let accounts = Accounts::new(settings, Arc::new(db), log, None);
        give_upstreams_a_client(&accounts);
        return admin::run(&args[1..], &accounts);
    }
    serve(settings, db)
}

/// Serving, step by step: warn about risky settings, bind, build the shared
/// state and load the stored sessions, start the metrics listener, install
/// the signal handler, log `started`, start the background threads, print
/// `listening on`, serve until a signal, then stop cleanly.
/// Signing in through upstream providers fetches over HTTPS with the
/// server's client, trusting `UPSTREAM_CA_FILE`'s certificates.
fn give_upstreams_a_client(accounts: &Accounts) {
    let client = http::client::Client::new(
        &accounts.settings().upstream_ca_file,
        Duration::from_secs(10),
    );
    accounts
        .upstreams()
        .set_fetch(Arc::new(upstream::Outbound(client)));
}

fn serve(settings: Settings, db: Database) -> ExitCode {
    let log = Logger::new(settings.log_format);
    warn_about_settings(&settings, &log);
    // The metrics are labelled by the route table's patterns.
    let metrics = settings.metrics_addr.map(|_| {
        let routes: Vec<&'static str> = ROUTES.iter().map(|route| route.path).collect();
        Arc::new(Metrics::new(&routes))
    });
    let accounts = Accounts::new(settings, Arc::new(db), log, metrics.clone());
    give_upstreams_a_client(&accounts);
    let app = Arc::new(App::new(accounts, metrics, openapi::text));
    // The access rules: a bad line stops start-up, naming it (exit 2, as a
    // bad setting does).
    if let Err(problem) = app.accounts.load_rules() {
        eprintln!("auth-server: ACCESS_RULES_FILE {problem}");
        return ExitCode::from(2);
    }
    // OpenID Connect clients need an issuer, and the issuer is PUBLIC_URL
    // (the ID tokens name it; apps check it).
    if app.settings().public_url.is_none() && app.accounts.has_oidc_clients().unwrap_or(false) {
        eprintln!(
            "auth-server: invalid PUBLIC_URL: expected the issuer's URL, such as https://auth.example.com, whenever OpenID Connect clients exist"
        );
        return ExitCode::from(2);
    }
    // The signing keys, before any request could want them: a request
    // never makes one (a key made by a GET would be a write, and seconds
    // of RSA work, on someone's page load).
    if app.settings().public_url.is_some()
        && app.accounts.has_oidc_clients().unwrap_or(false)
        && let Err(trouble) = oidc::ensure_keys(&app.accounts, clock::now())
    {
        eprintln!("auth-server: cannot make the OpenID Connect signing keys: {trouble}");
        return ExitCode::from(1);
    }
    let server = match bind(app.settings()) {
        Ok(server) => server,
        Err(code) => return code,
    };
    let Ok(address) = server.local_addr().inspect_err(|error| {
        eprintln!("auth-server: cannot read the bound address: {error}");
    }) else {
        return ExitCode::from(1);
    };

    // Sessions that survived the last run, before the first request.
    let loading = Instant::now();
    let loaded = match app.accounts.load_sessions(clock::now()) {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("auth-server: cannot load the stored sessions: {error:?}");
            return ExitCode::from(1);
        }
    };
    let api_handle = server.stop_handle();
    let metrics = match start_metrics_listener(&app, &api_handle) {
        Ok(metrics) => metrics,
        Err(code) => return code,
    };

    // SIGINT or SIGTERM: note when, and stop accepting.
    static STOP_ASKED: OnceLock<Instant> = OnceLock::new();
    let stop = server.stop_handle();
    if let Err(error) = ctrlc::set_handler(move || {
        let _ = STOP_ASKED.set(Instant::now());
        stop.stop();
    }) {
        eprintln!("auth-server: cannot install the signal handler: {error}");
        return ExitCode::from(1);
    }

    let metrics_address = metrics.as_ref().and_then(|m| m.bound);
    log_started(&app, address, metrics_address, loaded, loading.elapsed());
    start_background_threads(&app);

    // The socket already accepts (connections queue in the backlog), so
    // whoever reads this line can connect at once.
    println!("listening on http://{address}");
    let _ = std::io::stdout().flush();

    let served = server.serve(Arc::clone(&app));
    let drained = STOP_ASKED.get().map(|asked| asked.elapsed());
    if let Some(metrics) = metrics {
        metrics.handle.stop();
        let _ = metrics.thread.join();
    }
    stop_cleanly(
        &app,
        drained,
        api_handle.open_connections(),
        STOP_ASKED.get(),
    );
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("auth-server: {error}");
            ExitCode::from(1)
        }
    }
}

/// One warning line each for settings that are wrong in production (OWASP
/// ASVS 4.0.3 V2.4.4, V3.4.1, V14.5.3).
fn warn_about_settings(settings: &Settings, log: &Logger) {
    let warn = |message: String| log.line("warning", &[("message", &message)]);
    if settings.bcrypt_cost < MIN_PRODUCTION_COST {
        warn(format!(
            "BCRYPT_COST={} is below {MIN_PRODUCTION_COST}, the minimum for production (OWASP ASVS 4.0.3 V2.4.4); use it only for tests",
            settings.bcrypt_cost
        ));
    }
    // Fine on a laptop, wrong on a public address.
    if settings.host.is_loopback() {
        return;
    }
    let host = settings.host;
    if !settings.cookie_secure {
        warn(format!(
            "listening on {host} with COOKIE_SECURE=false: the session cookie may travel over plain HTTP; set COOKIE_SECURE=true behind TLS"
        ));
    }
    if settings.trust_proxy {
        // Anyone who can connect can then name any client address, and the
        // per-address limits mean nothing.
        warn(format!(
            "listening on {host} with TRUST_PROXY=true: any client that can connect may forge X-Forwarded-For; listen on a loopback HOST behind the proxy"
        ));
    }
    if settings.uses_default_cors_origins() {
        warn(format!(
            "listening on {host} with the development CORS_ORIGINS (localhost front ends); set CORS_ORIGINS to your front end's origin"
        ));
    }
}

/// The API's listener with its limits.
fn bind(settings: &Settings) -> Result<Server, ExitCode> {
    let limits = Limits {
        max_connections: settings.max_connections,
        // Behind a trusted proxy every connection comes from the proxy, so
        // a per-address cap would cap everyone together; the proxy enforces
        // it instead (nginx limit_conn; see deploy/).
        max_connections_per_peer: if settings.trust_proxy {
            usize::MAX
        } else {
            settings.max_connections_per_ip
        },
        ..Limits::default()
    };
    Server::bind((settings.host, settings.port), limits).map_err(|error| {
        eprintln!(
            "auth-server: cannot listen on {}:{}: {error}",
            settings.host, settings.port
        );
        ExitCode::from(1)
    })
}

/// The metrics listener, running.
struct MetricsListener {
    handle: StopHandle,
    thread: std::thread::JoinHandle<std::io::Result<()>>,
    bound: Option<SocketAddr>,
}

/// A second server of the same HTTP layer on `METRICS_ADDR`, stopped with
/// the first; none when metrics are off.
fn start_metrics_listener(
    app: &Arc<App>,
    api: &StopHandle,
) -> Result<Option<MetricsListener>, ExitCode> {
    let Some(address) = app.settings().metrics_addr else {
        return Ok(None);
    };
    // A scraper needs one or two connections: one peer holding all sixteen
    // must not blind the others.
    let limits = Limits {
        max_connections: 16,
        max_connections_per_peer: 4,
        ..Limits::default()
    };
    let server = Server::bind(address, limits).map_err(|error| {
        eprintln!("auth-server: cannot listen on METRICS_ADDR {address}: {error}");
        ExitCode::from(1)
    })?;
    let handle = server.stop_handle();
    let bound = server.local_addr().ok();
    let service = MetricsService {
        app: Arc::clone(app),
        api: api.clone(),
    };
    let thread = std::thread::spawn(move || server.serve(service));
    Ok(Some(MetricsListener {
        handle,
        thread,
        bound,
    }))
}

/// The effective settings that matter, and never a secret (no mail command
/// text, no tokens): one line to check a deployment by.
fn log_started(
    app: &App,
    address: SocketAddr,
    metrics: Option<SocketAddr>,
    loaded: usize,
    loading: Duration,
) {
    let s = app.settings();
    app.accounts.log().line(
        "started",
        &[
            ("version", &env!("CARGO_PKG_VERSION")),
            ("address", &address.to_string()),
            ("database", &s.database_path.display().to_string()),
            ("schema_version", &SCHEMA_VERSION),
            ("cors_origins", &s.cors_origins.join(",")),
            ("cookie_secure", &s.cookie_secure),
            ("cookie_samesite", &s.cookie_same_site.as_str()),
            ("cookie_domain", &s.cookie_domain),
            ("bcrypt_cost", &s.bcrypt_cost),
            ("hash_workers", &s.hash_workers),
            ("trust_proxy", &s.trust_proxy),
            ("mail", &s.mail_command.is_some()),
            ("metrics", &metrics.map(|a| a.to_string())),
            ("sessions_loaded", &loaded),
            ("load_ms", &(loading.as_secs_f64() * 1000.0).round()),
        ],
    );
}

/// The dummy hash for unknown-user logins (made off the start-up path), the
/// mailer, the upkeep, and the watch on what the admin command or an editor
/// changes: the access rules file, and lockouts lifted.
fn start_background_threads(app: &Arc<App>) {
    let watch = Arc::clone(app);
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(WATCH_INTERVAL);
            watch.accounts.reload_rules_if_changed();
            watch.accounts.apply_unlocks();
        }
    });
    let warm = Arc::clone(app);
    std::thread::spawn(move || warm.accounts.warm_up_hashing());
    let mailer = Arc::clone(app.accounts.mailer());
    std::thread::spawn(move || mailer.run());
    let upkeep = Arc::clone(app);
    std::thread::spawn(move || {
        for round in 0u32.. {
            upkeep.accounts.maintain(round % UPKEEPS_PER_PRUNE == 0);
            std::thread::sleep(UPKEEP_INTERVAL);
        }
    });
}

/// Whatever was counted since the last upkeep reaches the audit trail, the
/// sessions' last-seen times reach their rows, and the log is folded into
/// the database file, so after a clean stop `auth.db` alone is a complete
/// copy; then the `stopped` line.
fn stop_cleanly(
    app: &App,
    drained: Option<Duration>,
    connections_left: usize,
    asked: Option<&Instant>,
) {
    let accounts = &app.accounts;
    accounts.maintain(false);
    let checkpointed = match accounts.checkpoint() {
        Ok(()) => true,
        Err(error) => {
            accounts.log_error(&format!("checkpoint at stop: {error}"));
            false
        }
    };
    let millis = |d: Duration| (d.as_secs_f64() * 1000.0).round();
    accounts.log().line(
        "stopped",
        &[
            ("drain_ms", &drained.map(millis)),
            ("connections_left", &connections_left),
            ("sessions_saved", &accounts.live_sessions()),
            ("checkpointed", &checkpointed),
            ("total_ms", &asked.map(|a| millis(a.elapsed()))),
        ],
    );
}
