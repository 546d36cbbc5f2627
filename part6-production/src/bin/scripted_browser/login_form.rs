//! What the person does on a page: fill in the form like a person would,
//! and keep the cookies a browser keeps. Knows forms ([`super::html_form`]),
//! not the walk from page to page ([`super::walk`]).

use std::collections::BTreeMap;

use reqwest::header;
use url::Url;

use super::html_form::HtmlForm;

/// The person: who logs in, and whether they approve.
#[derive(Debug, Clone)]
pub struct Person {
    /// Typed into the username field.
    pub username: String,
    /// Typed into the password field; never printed.
    pub password: String,
    /// Press Deny instead of Approve.
    pub deny: bool,
}

/// The page has no form with the button the person wants to press.
#[derive(Debug, thiserror::Error)]
#[error("no form with a {intent} button on {url}")]
pub struct NoForm {
    /// "Approve" or "Deny".
    pub intent: &'static str,
    /// The page.
    pub url: String,
}

impl Person {
    /// Picks the form with the wanted button and fills it in: hidden fields
    /// as they are, the credentials into the text and password fields,
    /// checked boxes, and the button's own `name=value`.
    pub fn fill(
        &self,
        forms: &[HtmlForm],
        url: &Url,
    ) -> Result<(HtmlForm, Vec<(String, String)>), NoForm> {
        let (intent, words): (&'static str, &[&str]) = if self.deny {
            ("Deny", &["deny", "reject", "cancel", "decline"])
        } else {
            (
                "Approve",
                &[
                    "approve",
                    "allow",
                    "accept",
                    "authorize",
                    "consent",
                    "log in",
                    "login",
                    "sign in",
                    "continue",
                ],
            )
        };
        let chosen = forms.iter().find_map(|form| {
            let button = form
                .buttons
                .iter()
                .find(|b| words.iter().any(|w| b.words().contains(w)))?;
            Some((form, button))
        });
        let Some((form, button)) = chosen else {
            return Err(NoForm {
                intent,
                url: url.to_string(),
            });
        };
        let mut fields = Vec::new();
        let mut username_done = false;
        for input in &form.inputs {
            let value = match input.kind.as_str() {
                "password" => self.password.clone(),
                "text" | "email" if !username_done => {
                    username_done = true;
                    self.username.clone()
                }
                "checkbox" | "radio" if !input.checked => continue,
                _ => input.value.clone(),
            };
            fields.push((input.name.clone(), value));
        }
        if let Some(name) = &button.name {
            fields.push((name.clone(), button.value.clone()));
        }
        Ok((form.clone(), fields))
    }
}

/// Keeps `name=value` of every `Set-Cookie` (the jar of one origin: every
/// request of the walk but the last goes to the authorization server).
pub fn remember_cookies(cookies: &mut BTreeMap<String, String>, response: &reqwest::Response) {
    for value in response.headers().get_all(header::SET_COOKIE) {
        let Some(pair) = value.to_str().ok().and_then(|v| v.split(';').next()) else {
            continue;
        };
        if let Some((name, value)) = pair.split_once('=') {
            cookies.insert(name.trim().to_owned(), value.trim().to_owned());
        }
    }
}

pub fn cookie_header(cookies: &BTreeMap<String, String>) -> String {
    cookies
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::html_form::parse_forms;

    #[test]
    fn fills_credentials_hidden_fields_and_the_chosen_button() {
        let html = r#"<form method="post" action="/login"><input type="hidden" name="csrf" value="c1">
            <input name="username"><input type="password" name="password">
            <button name="decision" value="approve">Approve</button>
            <button name="decision" value="deny">Deny</button></form>"#;
        let forms = parse_forms(html);
        let url = Url::parse("http://localhost:9000/authorize").ok();
        let person = |deny| Person {
            username: "demo_user".into(),
            password: "demo_password".into(),
            deny,
        };
        let filled = url
            .as_ref()
            .and_then(|url| person(false).fill(&forms, url).ok());
        let fields = filled.map(|(_, fields)| fields).unwrap_or_default();
        let expected: Vec<(String, String)> = [
            ("csrf", "c1"),
            ("username", "demo_user"),
            ("password", "demo_password"),
            ("decision", "approve"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        assert_eq!(fields, expected);
        let denied = url
            .as_ref()
            .and_then(|url| person(true).fill(&forms, url).ok());
        let last = denied.and_then(|(_, fields)| fields.last().cloned());
        assert_eq!(last, Some(("decision".into(), "deny".into())));
    }
}
