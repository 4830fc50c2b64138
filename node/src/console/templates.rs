//! The console's templates, embedded in the binary (no runtime files) and rendered with
//! minijinja; `.html` templates auto-escape every value (pool names and every other
//! ledger-provided string are user input). Only chart SVG, made by [`super::charts`] from
//! numbers and dates, is marked safe.

use super::ConsoleError;
use minijinja::Environment;
use serde::Serialize;
use std::sync::LazyLock;

/// Every template: (name, source).
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("error.html", include_str!("templates/error.html")),
    ("overview.html", include_str!("templates/overview.html")),
    ("pools.html", include_str!("templates/pools.html")),
    ("pool.html", include_str!("templates/pool.html")),
    ("pool_new.html", include_str!("templates/pool_new.html")),
    ("bulk.html", include_str!("templates/bulk.html")),
    ("bulk_grant.html", include_str!("templates/bulk_grant.html")),
    (
        "redemptions.html",
        include_str!("templates/redemptions.html"),
    ),
    ("member.html", include_str!("templates/member.html")),
    ("token.html", include_str!("templates/token.html")),
    ("audit.html", include_str!("templates/audit.html")),
    ("alerts.html", include_str!("templates/alerts.html")),
    ("balances.html", include_str!("templates/balances.html")),
    ("fraud.html", include_str!("templates/fraud.html")),
    ("advisor.html", include_str!("templates/advisor.html")),
];

static ENV: LazyLock<Result<Environment<'static>, String>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .map_err(|e| format!("template {name}: {e}"))?;
    }
    Ok(env)
});

/// Renders `name` with `context`.
pub fn render<T: Serialize>(name: &str, context: &T) -> Result<String, ConsoleError> {
    let env = ENV.as_ref().map_err(|e| ConsoleError::Invalid(e.clone()))?;
    Ok(env.get_template(name)?.render(context)?)
}
