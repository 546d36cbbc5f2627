//! Just enough HTML reading for the scripted browser: the `<form>`s of a
//! page, their fields and their submit buttons.
//!
//! Not an HTML parser: it reads tags and quoted attributes, which is all a
//! server-rendered login page (maud output) contains. Text between tags is
//! used only for button labels.

/// A form on the page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HtmlForm {
    /// `action`, unresolved; `None` means "the page's own URL".
    pub action: Option<String>,
    /// `method`, upper-case; `GET` when absent.
    pub method: String,
    /// `<input>`s other than submit buttons.
    pub inputs: Vec<Input>,
    /// `<button>`s and `<input type=submit>`s.
    pub buttons: Vec<Button>,
}

/// An `<input>` field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Input {
    /// `type`, lower-case; `text` when absent.
    pub kind: String,
    /// `name`.
    pub name: String,
    /// `value`, entity-decoded.
    pub value: String,
    /// `checked` present (checkboxes, radios).
    pub checked: bool,
}

/// A submit button.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Button {
    /// `name`, if it has one (then `name=value` is submitted with it).
    pub name: Option<String>,
    /// `value`.
    pub value: String,
    /// The visible text.
    pub label: String,
}

impl Button {
    /// Name, value and label in lower case, to match words against.
    pub fn words(&self) -> String {
        format!(
            "{} {} {}",
            self.name.as_deref().unwrap_or_default(),
            self.value,
            self.label
        )
        .to_lowercase()
    }
}

// ANCHOR: parse_forms
/// The forms of `html`, in document order.
pub fn parse_forms(html: &str) -> Vec<HtmlForm> {
    let mut forms = Vec::new();
    let mut current: Option<HtmlForm> = None;
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        rest = &rest[start + 1..];
        let (name, attributes, after) = read_tag(rest);
        rest = after;
        match name.as_str() {
            "form" => {
                current = Some(HtmlForm {
                    action: attribute(&attributes, "action"),
                    method: attribute(&attributes, "method")
                        .unwrap_or_else(|| "get".into())
                        .to_uppercase(),
                    ..HtmlForm::default()
                });
            }
            "/form" => forms.extend(current.take()),
            "input" => {
                let Some(form) = current.as_mut() else {
                    continue;
                };
                let kind = attribute(&attributes, "type")
                    .unwrap_or_else(|| "text".into())
                    .to_lowercase();
                let name = attribute(&attributes, "name");
                let value = attribute(&attributes, "value").unwrap_or_default();
                if kind == "submit" {
                    let label = value.clone();
                    form.buttons.push(Button { name, value, label });
                } else if let Some(name) = name {
                    let checked = attributes.iter().any(|(key, _)| key == "checked");
                    form.inputs.push(Input {
                        kind,
                        name,
                        value,
                        checked,
                    });
                }
            }
            "button" => {
                let Some(form) = current.as_mut() else {
                    continue;
                };
                let kind = attribute(&attributes, "type").unwrap_or_else(|| "submit".into());
                let end = rest.find("</button").unwrap_or(rest.len());
                let label = strip_tags(&rest[..end]);
                if kind.eq_ignore_ascii_case("submit") {
                    form.buttons.push(Button {
                        name: attribute(&attributes, "name"),
                        value: attribute(&attributes, "value").unwrap_or_default(),
                        label,
                    });
                }
            }
            _ => {}
        }
    }
    forms
}
// ANCHOR_END: parse_forms

type Attributes = Vec<(String, String)>;

/// Reads `name attr="v" attr2=v2 flag>`; returns the lower-case tag name, the
/// attributes and the text after `>`.
fn read_tag(input: &str) -> (String, Attributes, &str) {
    let name_end = input
        .find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/' && !input.starts_with('/'))
        .unwrap_or(input.len());
    let name = input[..name_end].to_ascii_lowercase();
    let mut rest = &input[name_end..];
    let mut attributes = Vec::new();
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '/');
        if rest.is_empty() {
            return (name, attributes, rest);
        }
        if let Some(after) = rest.strip_prefix('>') {
            return (name, attributes, after);
        }
        let key_end = rest
            .find(|c: char| c.is_ascii_whitespace() || c == '=' || c == '>' || c == '/')
            .unwrap_or(rest.len())
            .max(1);
        let key = rest[..key_end].to_ascii_lowercase();
        rest = rest[key_end..].trim_start();
        let mut value = String::new();
        if let Some(after) = rest.strip_prefix('=') {
            let after = after.trim_start();
            let (raw, remaining) = match after.chars().next() {
                Some(quote @ ('"' | '\'')) => {
                    let body = &after[1..];
                    let end = body.find(quote).unwrap_or(body.len());
                    (&body[..end], body.get(end + 1..).unwrap_or_default())
                }
                _ => {
                    let end = after
                        .find(|c: char| c.is_ascii_whitespace() || c == '>')
                        .unwrap_or(after.len());
                    (&after[..end], &after[end..])
                }
            };
            value = decode_entities(raw);
            rest = remaining;
        }
        attributes.push((key, value));
    }
}

fn attribute(attributes: &Attributes, name: &str) -> Option<String> {
    attributes
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.clone())
}

fn strip_tags(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    decode_entities(
        text.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .as_str(),
    )
}

/// Decodes the entities an HTML escaper produces.
pub fn decode_entities(input: &str) -> String {
    let mut output = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(start) = rest.find('&') {
        output.push_str(&rest[..start]);
        rest = &rest[start..];
        let Some(end) = rest.find(';').filter(|end| *end <= 10) else {
            output.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                output.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                output.push('&');
                rest = &rest[1..];
            }
        }
    }
    output.push_str(rest);
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<!DOCTYPE html><html><body>
        <h1>Sign in to &quot;Demo&quot;</h1>
        <form method="post" action="/authorize/login?id=a&amp;b=1">
          <input type="hidden" name="csrf_token" value="t&#x2F;k&amp;n">
          <input type="hidden" name="pending" value='p1'>
          <label>User <input name="username" autocomplete="username"></label>
          <input type="password" name="password" required>
          <input type="checkbox" name="remember">
          <button type="submit" name="decision" value="approve"><b>Approve</b></button>
          <button type="submit" name="decision" value="deny">Deny</button>
          <button type="button">Help</button>
        </form></body></html>"#;

    #[test]
    fn reads_a_login_form_with_two_buttons() {
        let forms = parse_forms(PAGE);
        assert_eq!(forms.len(), 1);
        let form = &forms[0];
        assert_eq!(form.method, "POST");
        assert_eq!(form.action.as_deref(), Some("/authorize/login?id=a&b=1"));
        let names: Vec<(&str, &str, &str)> = form
            .inputs
            .iter()
            .map(|input| {
                (
                    input.kind.as_str(),
                    input.name.as_str(),
                    input.value.as_str(),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("hidden", "csrf_token", "t/k&n"),
                ("hidden", "pending", "p1"),
                ("text", "username", ""),
                ("password", "password", ""),
                ("checkbox", "remember", ""),
            ]
        );
        assert_eq!(form.buttons.len(), 2);
        assert_eq!(form.buttons[0].label, "Approve");
        assert!(form.buttons[1].words().contains("deny"));
    }

    #[test]
    fn entities_decode() {
        assert_eq!(
            decode_entities("a&amp;b&lt;&#39;&#x41;&bogus;&"),
            "a&b<'A&bogus;&"
        );
    }
}
