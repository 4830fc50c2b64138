//! Delivery of magic links. E-mail goes through the org's SMTP server with `lettre` (a
//! maintained SMTP client: STARTTLS or implicit TLS with rustls, or plain for a relay on
//! the same host), configured in `[wallet.smtp]`; the message names the org and carries
//! the link and its expiry, nothing else about the member. SMS has no provider here: an
//! org plugs its own by implementing [`SmsSender`] (docs/wallet.md says how).

use super::WalletError;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// How the SMTP connection is secured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// STARTTLS on a plain connection (port 587), required.
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS: only for a relay on the same host or a test server.
    None,
}

/// `[wallet.smtp]`: the org's outgoing mail server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Server host name.
    pub host: String,
    /// Server port (587 for STARTTLS, 465 for TLS, 25 for a local relay).
    #[serde(default = "default_port")]
    pub port: u16,
    /// How the connection is secured.
    #[serde(default)]
    pub tls: SmtpTls,
    /// The sender, e.g. `Acme <wallet@acme.example>`.
    pub from: String,
    /// Login name, if the server wants one.
    #[serde(default)]
    pub username: Option<String>,
    /// A file holding the password (first line), next to `username`.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Longest wait for the server, seconds.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_port() -> u16 {
    587
}

fn default_timeout() -> u64 {
    10
}

/// Sends SMS messages for an org's provider. None ships with Couponcactus: implement it
/// for your provider's API and hand it to the wallet.
pub trait SmsSender: Send + Sync {
    /// Sends `text` to the phone number `to` (E.164, `+` and digits).
    fn send(
        &self,
        to: &str,
        text: &str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), WalletError>> + Send + '_>>;
}

/// The e-mail sender of magic links.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: lettre::message::Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from).finish()
    }
}

impl Mailer {
    /// A mailer of `config`; the password file is read now.
    pub fn new(config: &SmtpConfig) -> Result<Mailer, WalletError> {
        let bad = |why: String| WalletError::Config(format!("[wallet.smtp] {why}"));
        let from = config
            .from
            .parse()
            .map_err(|e| bad(format!("from {:?}: {e}", config.from)))?;
        let builder = match config.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host),
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)
                .map_err(|e| bad(format!("host {}: {e}", config.host)))?,
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)
                .map_err(|e| bad(format!("host {}: {e}", config.host)))?,
        };
        let mut builder = builder
            .port(config.port)
            .timeout(Some(Duration::from_secs(config.timeout_secs.max(1))));
        if let Some(user) = &config.username {
            let file = config
                .password_file
                .as_ref()
                .ok_or_else(|| bad("username needs password_file".into()))?;
            let text = std::fs::read_to_string(file)
                .map_err(|e| bad(format!("password_file {}: {e}", file.display())))?;
            let password = text.lines().next().unwrap_or_default().to_string();
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(Mailer {
            transport: builder.build(),
            from,
        })
    }

    /// Sends the magic link `url` (valid until `expires`, a readable time) of org `org` to
    /// `to`.
    pub async fn send_link(
        &self,
        to: &str,
        org: &str,
        url: &str,
        expires: &str,
    ) -> Result<(), WalletError> {
        let to = to
            .parse()
            .map_err(|_| WalletError::Invalid("the member's e-mail address is not valid".into()))?;
        let body = format!(
            "Hello,\n\nopen your {org} wallet (your coupons, points and history) with this link:\n\n\
             {url}\n\nIt works once, until {expires}. If you did not ask for it, ignore this \
             message: nothing happens without the link.\n\n{org}\n"
        );
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(format!("Your {org} wallet"))
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| WalletError::Mail(format!("building the message: {e}")))?;
        self.transport
            .send(message)
            .await
            .map_err(|e| WalletError::Mail(format!("sending through SMTP: {e}")))?;
        Ok(())
    }
}
