//! The admin's settings (`[plugins.deploy.config]`), read once per command.

use chatops_sdk::{config, CommandError, Setting};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Buildbot,
    GitHub,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Buildbot => "Buildbot",
            Backend::GitHub => "GitHub",
        }
    }
}

/// Every setting, with what it is for, for `chatops plugins inspect`.
pub fn describe() -> Vec<Setting> {
    vec![
        Setting::new("backend", "Where deploys run: `buildbot` or `github` (GitHub Actions)").required(),
        Setting::new(
            "url",
            "Buildbot's base URL (e.g. https://ci.example.com), or the GitHub API base (default https://api.github.com)",
        ),
        Setting::new("services", "The services users may deploy, comma-separated (unset: any)"),
        Setting::new("envs", "The environments users may deploy to, comma-separated (unset: any)"),
        Setting::new(
            "confirm_envs",
            "Environments that ask the user to confirm, comma-separated; prod and production always ask",
        ),
        Setting::new("scheduler", "Buildbot: the ForceScheduler to trigger (default `deploy`); its parameters must be named service, version and env"),
        Setting::new("builder", "Buildbot: the builder the scheduler forces, by name or id (default `deploy`)"),
        Setting::new("user", "Buildbot: the user to log in as; the password is the secret `buildbot-password`"),
        Setting::new("repo", "GitHub: the repository as owner/name"),
        Setting::new("workflow", "GitHub: the workflow file that has `on: workflow_dispatch` with inputs service, version and env (default deploy.yml)"),
        Setting::new("ref", "GitHub: the branch or tag the workflow runs from (default main)"),
        Setting::new("poll_seconds", "How often to check on a running deploy (default 2)"),
        Setting::new(
            "wait_seconds",
            "How long one command follows a deploy before it says where to follow it (default 50; keep it under the plugin's wall_ms limit)",
        ),
    ]
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub backend: Backend,
    pub url: String,
    pub services: Vec<String>,
    pub envs: Vec<String>,
    pub scheduler: String,
    pub builder: String,
    pub user: Option<String>,
    pub repo: Option<String>,
    pub workflow: String,
    pub git_ref: String,
    pub poll_seconds: u64,
    pub wait_seconds: u64,
}

fn get(key: &str) -> Option<String> {
    config::get(key)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn missing(key: &str, what: &str) -> CommandError {
    CommandError::failed(format!(
        "deploy needs the setting `{key}` ({what}); ask an admin to run `chatops config deploy {key} VALUE`"
    ))
}

pub fn list(value: Option<String>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn number(key: &str, default: u64, min: u64, max: u64) -> Result<u64, CommandError> {
    match get(key) {
        None => Ok(default),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                CommandError::failed(format!(
                    "the setting `{key}` must be a whole number of seconds from {min} to {max}, not `{v}`; ask an admin to fix it"
                ))
            }),
    }
}

impl Settings {
    pub fn load() -> Result<Settings, CommandError> {
        let backend = match get("backend").as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("buildbot") => Backend::Buildbot,
            Some("github") | Some("github-actions") => Backend::GitHub,
            Some(other) => {
                return Err(CommandError::failed(format!(
                    "the setting `backend` is `{other}`, but deploy knows `buildbot` and `github`; ask an admin to fix it"
                )))
            }
            None => return Err(missing("backend", "`buildbot` or `github`")),
        };
        let url = match backend {
            Backend::Buildbot => get("url").ok_or_else(|| missing("url", "Buildbot's base URL"))?,
            Backend::GitHub => get("url").unwrap_or_else(|| "https://api.github.com".into()),
        };
        let repo = get("repo");
        if backend == Backend::GitHub {
            match &repo {
                None => return Err(missing("repo", "the GitHub repository as owner/name")),
                Some(r) if !valid_repo(r) => {
                    return Err(CommandError::failed(format!(
                        "the setting `repo` must be owner/name, not `{r}`; ask an admin to fix it"
                    )))
                }
                _ => {}
            }
        }
        Ok(Settings {
            backend,
            url: url.trim_end_matches('/').to_string(),
            services: list(get("services")),
            envs: list(get("envs")),
            scheduler: get("scheduler").unwrap_or_else(|| "deploy".into()),
            builder: get("builder").unwrap_or_else(|| "deploy".into()),
            user: get("user"),
            repo,
            workflow: get("workflow").unwrap_or_else(|| "deploy.yml".into()),
            git_ref: get("ref").unwrap_or_else(|| "main".into()),
            poll_seconds: number("poll_seconds", 2, 1, 60)?,
            wait_seconds: number("wait_seconds", 50, 0, 3600)?,
        })
    }
}

fn valid_repo(r: &str) -> bool {
    let ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    matches!(r.split_once('/'), Some((o, n)) if ok(o) && ok(n))
}

/// Production always asks; so do the environments the admin listed.
pub fn needs_confirmation(env: &str, confirm_envs: &[String]) -> bool {
    let e = env.to_ascii_lowercase();
    let production = ["prod", "production"]
        .iter()
        .any(|p| e == *p || e.starts_with(&format!("{p}-")) || e.starts_with(&format!("{p}_")));
    production || confirm_envs.iter().any(|c| c.eq_ignore_ascii_case(env))
}

/// A name the user typed that goes into URLs and build parameters: short and plain.
pub fn plain(what: &str, value: &str) -> Result<(), CommandError> {
    let ok = !value.is_empty()
        && value.len() <= 100
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '/'));
    if ok {
        Ok(())
    } else {
        Err(CommandError::usage(format!(
            "`{value}` is not a {what}: use letters, digits and - _ . + / (up to 100)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_always_asks() {
        let none: Vec<String> = vec![];
        assert!(needs_confirmation("prod", &none));
        assert!(needs_confirmation("Production", &none));
        assert!(needs_confirmation("prod-eu", &none));
        assert!(!needs_confirmation("staging", &none));
        assert!(!needs_confirmation("product", &none));
        assert!(needs_confirmation("qa", &["QA".to_string()]));
    }

    #[test]
    fn lists_and_repos() {
        assert_eq!(list(Some(" api, web ,,".into())), ["api", "web"]);
        assert!(list(None).is_empty());
        assert!(valid_repo("acme/shop.web"));
        assert!(!valid_repo("acme"));
        assert!(!valid_repo("acme/shop/x"));
        assert!(plain("version", "1.4.2+build/7").is_ok());
        assert!(plain("version", "1.4 2").is_err());
        assert!(plain("version", "").is_err());
    }
}
