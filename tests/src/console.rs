//! Helpers of the console's end-to-end tests (tests/tests/console*.rs): staff users made
//! with `cactusd users`, and signing in over plain HTTP (cookies, the CSRF field).

use crate::{DevNode, cactusd_binary};
use reqwest::blocking::Client as Http;
use reqwest::header::{COOKIE, SET_COOKIE};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The password every test user gets.
pub const PASSWORD: &str = "correct horse battery staple";

/// `cactusd --data-dir DIR users ARGS…` with `stdin` as its input; (status ok, output).
pub fn users(node: &DevNode, args: &[&str], stdin: &str) -> (bool, String) {
    use std::io::Write as _;
    let mut child = Command::new(cactusd_binary())
        .arg("--data-dir")
        .arg(node.dir())
        .arg("users")
        .args(args)
        .env_remove("CACTUSD_CONFIG")
        .env_remove("CACTUSD_DATA_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting cactusd users");
    // The command may exit before reading (a refused role): a closed pipe is no error.
    let _ = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes());
    let out = child.wait_with_output().expect("cactusd users");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Adds user `name` with `role` and [`PASSWORD`].
pub fn add_user(node: &DevNode, name: &str, role: &str) {
    let (ok, out) = users(
        node,
        &["add", name, "--role", role],
        &format!("{PASSWORD}\n"),
    );
    assert!(ok, "users add {name}: {out}");
}

/// An HTTP client that does not follow redirects.
pub fn http() -> Http {
    Http::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client")
}

/// The value of cookie `name` set by `response`.
pub fn set_cookie(response: &reqwest::blocking::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The hidden CSRF field of a page.
pub fn csrf_field(html: &str) -> String {
    hidden_field(html, "csrf")
}

/// The value of the (first) field `name` of a page's forms.
pub fn hidden_field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("a {name} field"))
        + marker.len();
    let end = html[start..].find('"').expect("the field's end");
    html[start..start + end].to_string()
}

/// Posts the login form as `name` with `password`: the answer (303 and a session
/// cookie when it worked).
pub fn http_login(
    http: &Http,
    base: &str,
    name: &str,
    password: &str,
) -> reqwest::blocking::Response {
    let page = http.get(format!("{base}/console/login")).send().unwrap();
    let login_cookie = set_cookie(&page, "cactus_login").expect("the login form's cookie");
    let csrf = csrf_field(&page.text().unwrap());
    http.post(format!("{base}/console/login"))
        .header(COOKIE, format!("cactus_login={login_cookie}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", name),
            ("password", password),
        ])
        .send()
        .unwrap()
}

/// Signs in as `name` with [`PASSWORD`]: the `Cookie` header value of the session.
pub fn session(http: &Http, base: &str, name: &str) -> String {
    let r = http_login(http, base, name, PASSWORD);
    assert_eq!(r.status(), 303, "login of {name}");
    format!(
        "cactus_session={}",
        set_cookie(&r, "cactus_session").expect("a session")
    )
}

/// The body of page `url` fetched with session cookie `cookie`.
pub fn page(http: &Http, cookie: &str, url: &str) -> String {
    http.get(url)
        .header(COOKIE, cookie)
        .send()
        .unwrap()
        .text()
        .unwrap()
}
