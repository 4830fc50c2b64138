//! A WebDriver harness for the console's browser tests: Debian's `/usr/bin/chromium`,
//! headless, driven through `/usr/bin/chromedriver` (started here on a free 127.0.0.1 port,
//! killed on drop) with the `fantoccini` crate over plain HTTP, and a fresh profile in a
//! temporary directory.
//!
//! The tests are synchronous like the rest of the harness: [`Browser`] owns a small tokio
//! runtime and blocks on each WebDriver command. With `CONSOLE_SCREENSHOTS=1`,
//! [`Browser::screenshot`] saves PNGs to `docs/console/` (what docs/console.md shows).
//! A machine without chromium fails the test with what to install (scripts/test.sh
//! installs `chromium` and `chromium-driver`).

use crate::node::free_port;
use fantoccini::{Client, ClientBuilder, Locator};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's chromedriver (package `chromium-driver`).
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Longest chromedriver may take to answer `/status`.
pub const DRIVER_READY: Duration = Duration::from_secs(30);
/// Longest [`Browser::wait_for`] and [`Browser::wait_until`] wait by default.
pub const WAIT: Duration = Duration::from_secs(20);
/// Poll interval of the waits.
const POLL: Duration = Duration::from_millis(100);

/// A headless chromium session.
#[derive(Debug)]
pub struct Browser {
    runtime: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn require(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} not found: the console's browser tests drive Debian's headless chromium; \
         install it with `apt-get install -y chromium chromium-driver` ({package}; \
         scripts/test.sh installs both)"
    );
}

fn wait_driver(port: u16, driver: &mut Child) {
    let url = format!("http://127.0.0.1:{port}/status");
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("an HTTP client");
    let deadline = Instant::now() + DRIVER_READY;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = driver.try_wait() {
            panic!("chromedriver exited at start: {status}");
        }
        if http.get(&url).send().is_ok_and(|r| r.status().is_success()) {
            return;
        }
        std::thread::sleep(POLL);
    }
    panic!("chromedriver did not answer {url} within {DRIVER_READY:?}");
}

fn capabilities(
    profile: &Path,
    width: u32,
    height: u32,
) -> serde_json::Map<String, serde_json::Value> {
    let args = [
        "--headless".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-dev-shm-usage".into(),
        "--hide-scrollbars".into(),
        format!("--window-size={width},{height}"),
        format!("--user-data-dir={}", profile.display()),
    ];
    let options = serde_json::json!({ "binary": CHROMIUM, "args": args });
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    caps
}

impl Browser {
    /// Starts chromedriver and a headless chromium with a `width`×`height` window.
    pub fn start(width: u32, height: u32) -> Browser {
        require(CHROMIUM, "chromium");
        require(CHROMEDRIVER, "chromium-driver");
        let profile = tempfile::Builder::new()
            .prefix("cactus-chromium-")
            .tempdir()
            .expect("a profile directory");
        let port = free_port();
        let mut driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {CHROMEDRIVER}: {e}"));
        wait_driver(port, &mut driver);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let caps = capabilities(profile.path(), width, height);
        let client = runtime.block_on(async {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            ClientBuilder::new(connector)
                .capabilities(caps)
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
        });
        let client = match client {
            Ok(c) => c,
            Err(e) => {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!("starting a chromium session through chromedriver: {e}");
            }
        };
        Browser {
            runtime,
            client: Some(client),
            driver,
            _profile: profile,
        }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("the session is open")
    }

    /// Opens `url`.
    pub fn goto(&self, url: &str) {
        self.runtime
            .block_on(self.client().goto(url))
            .unwrap_or_else(|e| panic!("opening {url}: {e}"));
    }

    /// The current URL.
    pub fn url(&self) -> String {
        self.runtime
            .block_on(self.client().current_url())
            .expect("the current URL")
            .to_string()
    }

    /// Types `text` into the element `css`.
    pub fn fill(&self, css: &str, text: &str) {
        self.runtime.block_on(async {
            let e = self.client().find(Locator::Css(css)).await;
            let e = e.unwrap_or_else(|err| panic!("finding {css}: {err}"));
            e.clear()
                .await
                .unwrap_or_else(|err| panic!("clearing {css}: {err}"));
            e.send_keys(text)
                .await
                .unwrap_or_else(|err| panic!("typing into {css}: {err}"));
        });
    }

    /// Clicks the element `css`.
    pub fn click(&self, css: &str) {
        self.runtime.block_on(async {
            let e = self.client().find(Locator::Css(css)).await;
            e.unwrap_or_else(|err| panic!("finding {css}: {err}"))
                .click()
                .await
                .unwrap_or_else(|err| panic!("clicking {css}: {err}"));
        });
    }

    /// The visible text of the element `css`, `None` if there is none.
    pub fn text(&self, css: &str) -> Option<String> {
        self.runtime.block_on(async {
            let e = self.client().find(Locator::Css(css)).await.ok()?;
            e.text().await.ok()
        })
    }

    /// The texts of every element `css`.
    pub fn texts(&self, css: &str) -> Vec<String> {
        self.runtime.block_on(async {
            let mut out = Vec::new();
            for e in self
                .client()
                .find_all(Locator::Css(css))
                .await
                .unwrap_or_default()
            {
                out.push(e.text().await.unwrap_or_default());
            }
            out
        })
    }

    /// Runs `script` (a function body; `return` its answer) in the page.
    pub fn eval(&self, script: &str) -> serde_json::Value {
        self.runtime
            .block_on(self.client().execute(script, Vec::new()))
            .unwrap_or_else(|e| panic!("running {script:?}: {e}"))
    }

    /// The page's HTML as the browser holds it.
    pub fn source(&self) -> String {
        self.runtime
            .block_on(self.client().source())
            .expect("the page source")
    }

    /// Resizes the window.
    pub fn resize(&self, width: u32, height: u32) {
        self.runtime
            .block_on(self.client().set_window_size(width, height))
            .expect("resizing the window");
    }

    /// Waits (up to `timeout`) until `check` holds; panics with `what` otherwise.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&Browser) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        loop {
            if check(self) {
                return;
            }
            assert!(Instant::now() < deadline, "waited {timeout:?} for {what}");
            std::thread::sleep(POLL);
        }
    }

    /// Waits until an element `css` exists; its text.
    pub fn wait_for(&self, css: &str) -> String {
        let mut text = None;
        self.wait_until(&format!("an element {css}"), WAIT, |b| {
            text = b.text(css);
            text.is_some()
        });
        text.unwrap_or_default()
    }

    /// With `CONSOLE_SCREENSHOTS=1`, saves a PNG of the window as `docs/console/NAME.png`;
    /// the path when saved.
    pub fn screenshot(&self, name: &str) -> Option<PathBuf> {
        if std::env::var("CONSOLE_SCREENSHOTS").as_deref() != Ok("1") {
            return None;
        }
        let png = self
            .runtime
            .block_on(self.client().screenshot())
            .expect("a screenshot");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/console");
        std::fs::create_dir_all(&dir).expect("creating docs/console");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        Some(path)
    }

    /// Signs in at `base` (the node's URL) as `name`; answers the page's URL after.
    pub fn sign_in(&self, base: &str, name: &str, password: &str) -> String {
        self.goto(&format!("{base}/console/login"));
        self.fill("#name", name);
        self.fill("#password", password);
        self.click("form button[type=submit]");
        self.wait_until("the login to answer", WAIT, |b| {
            b.text("h1").is_some_and(|h| !h.is_empty())
                && (b.url().ends_with("/console")
                    || b.text("#login-error").is_some()
                    || b.text("#problem").is_some())
        });
        self.url()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self.runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(10), client.close()).await
            });
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
