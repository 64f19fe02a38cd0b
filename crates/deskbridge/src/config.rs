//! The one typed configuration. Defaults in code, then an optional TOML file, then `DESKBRIDGE_*`
//! environment variables (`__` separates sections: `DESKBRIDGE_DATABASE__URL`), and for any key a
//! `_FILE` variant that reads the value from a file (`DESKBRIDGE_VAULT__MASTER_KEYS_FILE`). Every key
//! is documented in `config.example.toml`. A bad value fails at startup with a message that says
//! how to fix it; secrets stay in `secrecy` types.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the config is invalid: {0}")]
    Invalid(String),
    #[error("{var} names the file {path}, which cannot be read: {source}")]
    SecretFile {
        var: String,
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the dashboard listens on.
    pub listen: SocketAddr,
    /// Mark the session cookie `Secure` and use the `__Host-` prefix. Turn off only for plain-HTTP
    /// development on a non-localhost address.
    pub secure_cookies: bool,
    /// Seconds of inactivity after which a session ends.
    pub session_idle_secs: u64,
    /// Seconds after sign-in after which a session ends regardless of activity.
    pub session_absolute_secs: u64,
    /// Failed sign-ins of one client on one account allowed in `login_window_secs`.
    pub login_max_failures: u32,
    pub login_window_secs: u64,
    /// Failed sign-ins of one client over all accounts allowed in the window.
    pub login_client_max_failures: u32,
    /// After this many failures on one account in the window (from any clients), attempts on it
    /// are admitted at most one per `login_account_spacing_ms`.
    pub login_account_slow_after: u32,
    pub login_account_spacing_ms: u64,
    /// Reverse proxies whose `X-Forwarded-For` is believed, as addresses or CIDR ranges
    /// (`"10.0.0.0/8, 192.168.1.5"`). Empty: the peer address is the client, and the header is
    /// ignored. Behind a trusted proxy, the client is the address that proxy appended.
    pub trusted_proxies: TrustedProxies,
    /// Longest a request may take before it is answered 503 (server-sent event streams excepted).
    pub request_timeout_secs: u64,
    /// A bearer token Prometheus sends to read `/metrics`. Unset: `/metrics` answers loopback
    /// clients only.
    pub metrics_token: Option<SecretString>,
}

/// The proxies named by `server.trusted_proxies`, parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<ipnet::IpNet>);

impl TrustedProxies {
    pub fn parse(s: &str) -> Result<TrustedProxies, ConfigError> {
        let mut nets = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let net = part
                .parse::<ipnet::IpNet>()
                .or_else(|_| part.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    ConfigError::Invalid(format!(
                        "server.trusted_proxies: {part:?} is not an IP address or CIDR range"
                    ))
                })?;
            nets.push(net);
        }
        Ok(TrustedProxies(nets))
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for TrustedProxies {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            One(String),
            Many(Vec<String>),
        }
        let joined = match Form::deserialize(d)? {
            Form::One(s) => s,
            Form::Many(v) => v.join(","),
        };
        TrustedProxies::parse(&joined).map_err(serde::de::Error::custom)
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            secure_cookies: true,
            session_idle_secs: 30 * 60,
            session_absolute_secs: 12 * 3600,
            login_max_failures: 5,
            login_window_secs: 15 * 60,
            login_client_max_failures: 50,
            login_account_slow_after: 20,
            login_account_spacing_ms: 1000,
            trusted_proxies: TrustedProxies::default(),
            request_timeout_secs: 120,
            metrics_token: None,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://path/to/deskbridge.db` (created if missing) or `postgres://user@host/db`.
    pub url: SecretString,
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: SecretString::from("sqlite://deskbridge.db".to_string()),
            max_connections: 8,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct VaultConfig {
    /// Versioned master keys, `1:<base64 of 32 bytes>,2:<…>`. The highest version encrypts new
    /// secrets; older versions only decrypt until `deskbridge vault rewrap` has moved every row.
    /// Generate one with `deskbridge vault rotate`. Required: there is no plaintext mode.
    pub master_keys: Option<SecretString>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FreshdeskConfig {
    /// Share of each Freshdesk account's rate budget deskbridge may use (0.05 to 1.0).
    pub budget_share: f64,
    /// Development only: send every Freshdesk domain to this emulator URL (`https://127.0.0.1:PORT`).
    pub emulator_base_url: Option<String>,
    /// The emulator's CA certificate (PEM file), trusted only with `emulator_base_url`.
    pub emulator_ca_path: Option<PathBuf>,
    /// Length of Freshdesk's rate window in seconds: 60 on Freshdesk; benchmarks shorten the
    /// emulator's minute (`--minute-secs`) and set the same here.
    pub rate_window_secs: u64,
}

impl Default for FreshdeskConfig {
    fn default() -> Self {
        FreshdeskConfig {
            budget_share: 0.5,
            emulator_base_url: None,
            emulator_ca_path: None,
            rate_window_secs: 60,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// Run scheduled syncs in the server (off: only `deskbridge sync` and webhooks sync).
    pub enabled: bool,
    /// Default time between syncs of an integration; each integration may set its own.
    pub interval_secs: u64,
    /// A run's lease expires this long after its holder stopped renewing it (a crash).
    pub lease_stale_secs: u64,
    /// How often the scheduler looks for due integrations and webhook refreshes, in ms.
    pub tick_ms: u64,
    /// Small reference streams (agents, groups, fields, knowledge base…) are read whole this often.
    pub reference_every_secs: u64,
    /// How often every id is walked to find records deleted for good (0: never).
    pub reconcile_every_secs: u64,
    /// Longest one sync job runs before it stops at a page and goes back to the queue, so that a
    /// long backfill takes turns with other help desks' work (0: never).
    pub slice_secs: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            enabled: true,
            interval_secs: 300,
            lease_stale_secs: 60,
            tick_ms: 1000,
            reference_every_secs: 3600,
            reconcile_every_secs: 86_400,
            slice_secs: 120,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Time between health checks of each integration.
    pub interval_secs: u64,
    /// Freshdesk failing (5xx, timeouts) flips an integration to "Freshdesk unavailable" only
    /// after this many failed checks in a row…
    pub unavailable_after_failures: u32,
    /// …spanning at least this long.
    pub unavailable_after_secs: u64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            interval_secs: 300,
            unavailable_after_failures: 3,
            unavailable_after_secs: 600,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// SMTP server for alert emails, e.g. `smtps://user:password@mail.example.com` or
    /// `smtp://mail.example.com:587?tls=required`. Unset: no email. A secret: prefer
    /// DESKBRIDGE_ALERTS__SMTP_URL_FILE.
    pub smtp_url: Option<SecretString>,
    /// The sender of alert emails.
    pub from: String,
    /// While an incident stays open, remind after this long (0: never).
    pub reminder_secs: u64,
    /// Attempts per alert or change notification before it is marked failed, with doubling waits
    /// from `retry_base_secs`.
    pub max_attempts: u32,
    pub retry_base_secs: u64,
    /// Development and tests only: let webhooks (alerts, change notifications) go to private and
    /// loopback addresses.
    pub allow_private_webhook_targets: bool,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            smtp_url: None,
            from: "deskbridge <alerts@localhost>".into(),
            reminder_secs: 86_400,
            max_attempts: 6,
            retry_base_secs: 30,
            allow_private_webhook_targets: false,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub vault: VaultConfig,
    pub freshdesk: FreshdeskConfig,
    pub sync: SyncConfig,
    pub health: HealthConfig,
    pub alerts: AlertsConfig,
    pub jobs: JobsConfig,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// Run a worker in this process (off: it only serves pages and enqueues, and another
    /// process sharing the database runs the jobs).
    pub worker: bool,
    /// Jobs (syncs, webhook refreshes, health checks, alert deliveries) run at once per process.
    pub concurrency: usize,
    /// A claimed job's lease; a worker that stops renewing it (killed) loses the job this long
    /// after its last heartbeat, and another worker takes it over.
    pub lease_secs: u64,
    /// Where a `deskbridge worker` process answers `/metrics` and `/healthz` (it has no dashboard).
    pub listen: std::net::SocketAddr,
    /// How long a process asked to stop (SIGTERM, Ctrl-C) waits for requests in flight before it
    /// gives its running jobs back to the queue and exits.
    pub shutdown_grace_secs: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            worker: true,
            concurrency: 8,
            lease_secs: 30,
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 9187)),
            shutdown_grace_secs: 10,
        }
    }
}

const PREFIX: &str = "DESKBRIDGE_";

impl Config {
    /// Loads defaults, then `file` (if any), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_from(file, std::env::vars().collect())
    }

    /// As [`Config::load`], with the environment given explicitly (tests).
    pub fn load_from(
        file: Option<&Path>,
        env: Vec<(String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut tree = toml::Table::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            tree = text
                .parse::<toml::Table>()
                .map_err(|e| ConfigError::Invalid(format!("{}: {e}", path.display())))?;
        }
        for (name, value) in env {
            let Some(rest) = name.strip_prefix(PREFIX) else {
                continue;
            };
            let (rest, value) = match rest.strip_suffix("_FILE") {
                Some(r) => {
                    let path = PathBuf::from(&value);
                    let v = std::fs::read_to_string(&path).map_err(|source| {
                        ConfigError::SecretFile {
                            var: name.clone(),
                            path,
                            source,
                        }
                    })?;
                    (r.to_string(), v.trim_end_matches(['\n', '\r']).to_string())
                }
                None => (rest.to_string(), value),
            };
            let parts: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
            if parts.len() != 2 || parts.iter().any(String::is_empty) {
                tracing::warn!(variable = %name, "ignoring an environment variable that names no config key (use DESKBRIDGE_SECTION__KEY)");
                continue;
            }
            let section = tree
                .entry(parts[0].clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let toml::Value::Table(section) = section else {
                return Err(ConfigError::Invalid(format!(
                    "{} is not a section",
                    parts[0]
                )));
            };
            section.insert(parts[1].clone(), env_value(&value));
        }
        let cfg: Config = toml::Value::Table(tree)
            .try_into()
            .map_err(|e: toml::de::Error| {
                ConfigError::Invalid(e.message().to_string() + &location(&e))
            })?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.health.interval_secs == 0 || self.alerts.max_attempts == 0 {
            return Err(ConfigError::Invalid(
                "health.interval_secs and alerts.max_attempts must be at least 1".into(),
            ));
        }
        if self.jobs.concurrency == 0 || self.jobs.lease_secs == 0 {
            return Err(ConfigError::Invalid(
                "jobs.concurrency and jobs.lease_secs must be at least 1".into(),
            ));
        }
        if self
            .alerts
            .from
            .parse::<lettre::message::Mailbox>()
            .is_err()
        {
            return Err(ConfigError::Invalid(
                "alerts.from must be an email address, like \"deskbridge <alerts@example.com>\""
                    .into(),
            ));
        }
        if self.freshdesk.rate_window_secs == 0 {
            return Err(ConfigError::Invalid(
                "freshdesk.rate_window_secs must be at least 1".into(),
            ));
        }
        if self.sync.interval_secs < 10 || self.sync.lease_stale_secs < 2 || self.sync.tick_ms < 10
        {
            return Err(ConfigError::Invalid(
                "sync.interval_secs must be at least 10, sync.lease_stale_secs at least 2 and sync.tick_ms at least 10".into(),
            ));
        }
        if !(0.05..=1.0).contains(&self.freshdesk.budget_share) {
            return Err(ConfigError::Invalid(
                "freshdesk.budget_share must be between 0.05 and 1.0".into(),
            ));
        }
        if self.server.login_max_failures == 0
            || self.server.login_client_max_failures == 0
            || self.server.login_window_secs == 0
            || self.server.request_timeout_secs == 0
        {
            return Err(ConfigError::Invalid("server.login_max_failures, login_client_max_failures, login_window_secs and request_timeout_secs must be at least 1".into()));
        }
        if self.server.session_idle_secs == 0
            || self.server.session_absolute_secs < self.server.session_idle_secs
        {
            return Err(ConfigError::Invalid("server.session_idle_secs must be positive and not longer than server.session_absolute_secs".into()));
        }
        if self.freshdesk.emulator_base_url.is_some() != self.freshdesk.emulator_ca_path.is_some()
            && self
                .freshdesk
                .emulator_base_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https"))
        {
            return Err(ConfigError::Invalid(
                "freshdesk.emulator_base_url over https needs freshdesk.emulator_ca_path".into(),
            ));
        }
        Ok(())
    }

    pub fn login_limits(&self) -> crate::accounts::LoginLimits {
        let s = &self.server;
        crate::accounts::LoginLimits {
            pair_max: s.login_max_failures,
            client_max: s.login_client_max_failures,
            account_slow_after: s.login_account_slow_after,
            account_spacing_ms: s.login_account_spacing_ms,
            window_secs: s.login_window_secs,
        }
    }

    pub fn session_idle(&self) -> Duration {
        Duration::from_secs(self.server.session_idle_secs)
    }

    pub fn session_absolute(&self) -> Duration {
        Duration::from_secs(self.server.session_absolute_secs)
    }
}

fn location(e: &toml::de::Error) -> String {
    e.span().map(|_| String::new()).unwrap_or_default()
}

/// Environment values are typed the way TOML would read them, falling back to a string.
fn env_value(v: &str) -> toml::Value {
    if let Ok(b) = v.parse::<bool>() {
        return toml::Value::Boolean(b);
    }
    if let Ok(i) = v.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    if let Ok(f) = v.parse::<f64>()
        && v.contains('.')
    {
        return toml::Value::Float(f);
    }
    toml::Value::String(v.to_string())
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn the_documented_example_config_is_valid_and_matches_the_defaults() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config.example.toml");
        let c = Config::load_from(Some(&example), vec![]).expect("config.example.toml loads");
        let d = Config::default();
        assert_eq!(c.sync.interval_secs, d.sync.interval_secs);
        assert_eq!(c.health.interval_secs, d.health.interval_secs);
        assert_eq!(c.alerts.reminder_secs, d.alerts.reminder_secs);
        assert_eq!(c.freshdesk.rate_window_secs, d.freshdesk.rate_window_secs);
    }

    #[test]
    fn defaults_then_file_then_environment_win_in_that_order() {
        let dir = std::env::temp_dir().join(format!("deskbridge-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("config.toml");
        std::fs::write(&file, "[server]\nlisten = \"127.0.0.1:9000\"\nsession_idle_secs = 60\n[freshdesk]\nbudget_share = 0.3\n").unwrap();
        let secret = dir.join("keys");
        std::fs::write(&secret, "1:abc\n").unwrap();
        let env = vec![
            (
                "DESKBRIDGE_SERVER__LISTEN".to_string(),
                "127.0.0.1:9001".to_string(),
            ),
            (
                "DESKBRIDGE_VAULT__MASTER_KEYS_FILE".to_string(),
                secret.display().to_string(),
            ),
            ("UNRELATED".to_string(), "x".to_string()),
        ];
        let cfg = Config::load_from(Some(&file), env).unwrap();
        assert_eq!(cfg.server.listen.port(), 9001);
        assert_eq!(cfg.server.session_idle_secs, 60);
        assert_eq!(cfg.server.session_absolute_secs, 12 * 3600);
        assert!((cfg.freshdesk.budget_share - 0.3).abs() < 1e-9);
        assert_eq!(cfg.vault.master_keys.unwrap().expose_secret(), "1:abc");
    }

    #[test]
    fn a_misconfiguration_says_what_to_fix() {
        let err = Config::load_from(
            None,
            vec![("DESKBRIDGE_FRESHDESK__BUDGET_SHARE".into(), "2.0".into())],
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("budget_share must be between"),
            "{err}"
        );
        let err = Config::load_from(
            None,
            vec![("DESKBRIDGE_SERVER__LISTEN".into(), "nowhere".into())],
        )
        .unwrap_err();
        assert!(err.to_string().contains("invalid"), "{err}");
        let err = Config::load_from(
            None,
            vec![("DESKBRIDGE_SERVER__COLOUR".into(), "red".into())],
        )
        .unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
        let err = Config::load_from(
            None,
            vec![(
                "DESKBRIDGE_VAULT__MASTER_KEYS_FILE".into(),
                "/nonexistent/keys".into(),
            )],
        )
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/keys"), "{err}");
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let cfg = Config::load_from(
            None,
            vec![(
                "DESKBRIDGE_VAULT__MASTER_KEYS".into(),
                "1:CANARY-master".into(),
            )],
        )
        .unwrap();
        assert!(!format!("{cfg:?}").contains("CANARY"));
    }
}
