//! `GET /docs`: the OpenAPI document as one readable HTML page, rendered on
//! the server from the same document `/openapi.json` serves, once, when the
//! router is built. No script and nothing from a CDN: it works on a LAN
//! without internet.

use std::fmt::Write as _;

use axum::{
    extract::State,
    http::header,
    response::{Html, IntoResponse},
};
use serde_json::Value;

use crate::{error::ApiError, http::state::AppState};

/// This API's reference, as a web page.
#[utoipa::path(
    get, path = "/docs", tag = "health",
    responses((status = 200, description = "The API reference", content_type = "text/html", body = String))
)]
pub async fn docs(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let page = state.docs.get().ok_or_else(|| ApiError::internal("API reference not built"))?;
    Ok(([(header::CACHE_CONTROL, "no-cache")], Html(page.clone())))
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn text(value: &Value) -> String {
    escape(value.as_str().unwrap_or_default())
}

/// A description: escaped, with its `code spans` set as code.
fn prose(value: &Value) -> String {
    let escaped = text(value);
    let mut out = String::with_capacity(escaped.len());
    for (i, part) in escaped.split('`').enumerate() {
        match i % 2 {
            1 => {
                let _ = write!(out, "<code>{part}</code>");
            }
            _ => out.push_str(part),
        }
    }
    // An odd backtick closes nothing: its code span ends with the text.
    if escaped.matches('`').count() % 2 == 1 {
        out.push_str("</code>");
    }
    out
}

/// A schema in a few words: a link to a named one, or its type.
fn type_of(schema: &Value) -> String {
    if let Some(name) = schema["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/")) {
        let name = escape(name);
        return format!("<a href=\"#schema-{name}\">{name}</a>");
    }
    for combinator in ["oneOf", "anyOf", "allOf"] {
        if let Some(parts) = schema[combinator].as_array() {
            let parts: Vec<String> = parts.iter().map(type_of).collect();
            return parts.join(if combinator == "allOf" { " &amp; " } else { " | " });
        }
    }
    let kinds: Vec<String> = match &schema["type"] {
        Value::String(kind) => vec![kind.clone()],
        Value::Array(kinds) => kinds.iter().filter_map(|k| k.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    };
    let shown: Vec<String> = kinds
        .iter()
        .map(|kind| match kind.as_str() {
            "array" => format!("array of {}", type_of(&schema["items"])),
            "object" if schema["additionalProperties"].is_object() => {
                format!("map of {}", type_of(&schema["additionalProperties"]))
            }
            other => escape(other),
        })
        .collect();
    let mut out = if shown.is_empty() { "any".to_owned() } else { shown.join(" or ") };
    if let Some(values) = schema["enum"].as_array() {
        let values: Vec<String> = values.iter().map(|v| escape(&v.to_string())).collect();
        let _ = write!(out, ": {}", values.join(", "));
    }
    out
}

/// The page for an OpenAPI document.
pub fn render(doc: &Value) -> String {
    let mut page = String::with_capacity(256 * 1024);
    let title = text(&doc["info"]["title"]);
    let _ = write!(
        page,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} API</title><style>\
         body{{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:70rem;padding:1rem;color:#1c1c1c}}\
         code,.path{{font-family:ui-monospace,monospace}}table{{border-collapse:collapse;margin:.3rem 0 1rem}}\
         td,th{{border-bottom:1px solid #ddd;padding:.2rem .6rem;text-align:left;vertical-align:top}}\
         .op{{border-left:4px solid #2a6ebb;padding:.1rem .8rem;margin:1.2rem 0}}\
         .method{{font-weight:700;text-transform:uppercase;margin-right:.5rem}}\
         nav a{{margin-right:.8rem}}a{{color:#1b5aa6}}</style></head><body>\
         <h1>{title} API</h1><p>{}</p><p>The same, machine-readable: <a href=\"/openapi.json\">/openapi.json</a> \
         (OpenAPI {}).</p>",
        text(&doc["info"]["description"]),
        text(&doc["openapi"]),
    );
    let tags: Vec<(&str, &str)> = doc["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| Some((t["name"].as_str()?, t["description"].as_str().unwrap_or_default())))
        .collect();
    page.push_str("<nav>");
    for (tag, _) in &tags {
        let _ = write!(page, "<a href=\"#tag-{0}\">{0}</a>", escape(tag));
    }
    page.push_str("<a href=\"#schemas\">schemas</a></nav>");
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    for (tag, description) in &tags {
        let _ = write!(page, "<h2 id=\"tag-{0}\">{0}</h2><p>{1}</p>", escape(tag), escape(description));
        for (path, item) in &paths {
            for method in METHODS {
                let op = &item[method];
                let tagged = op["tags"].as_array().is_some_and(|t| t.iter().any(|t| t == tag));
                if op.is_object() && tagged {
                    operation(&mut page, method, path, op);
                }
            }
        }
    }
    page.push_str("<h2 id=\"schemas\">Schemas</h2>");
    for (name, schema) in doc["components"]["schemas"].as_object().into_iter().flatten() {
        let _ = write!(page, "<h3 id=\"schema-{0}\">{0}</h3>", escape(name));
        if schema["description"].is_string() {
            let _ = write!(page, "<p>{}</p>", prose(&schema["description"]));
        }
        let Some(properties) = schema["properties"].as_object() else {
            let _ = write!(page, "<p>{}</p>", type_of(schema));
            continue;
        };
        let required: Vec<&str> =
            schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        page.push_str("<table><tr><th>field</th><th>type</th><th></th><th>about</th></tr>");
        for (field, property) in properties {
            let _ = write!(
                page,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(field),
                type_of(property),
                if required.contains(&field.as_str()) { "required" } else { "" },
                prose(&property["description"]),
            );
        }
        page.push_str("</table>");
    }
    page.push_str("</body></html>");
    page
}

fn operation(page: &mut String, method: &str, path: &str, op: &Value) {
    let _ = write!(
        page,
        "<div class=\"op\"><h3><span class=\"method\">{method}</span><span class=\"path\">{}</span></h3>",
        escape(path)
    );
    for part in ["summary", "description"] {
        if op[part].is_string() {
            let _ = write!(page, "<p>{}</p>", prose(&op[part]));
        }
    }
    let open = op["security"].as_array().is_none_or(|s| s.is_empty());
    page.push_str(if open {
        "<p><em>No credentials needed.</em></p>"
    } else {
        "<p><em>A bearer token or an API key (<code>x-api-key</code>).</em></p>"
    });
    if let Some(parameters) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
        page.push_str("<table><tr><th>parameter</th><th>in</th><th>type</th><th>about</th></tr>");
        for p in parameters {
            let required = if p["required"] == true { " (required)" } else { "" };
            let _ = write!(
                page,
                "<tr><td><code>{}</code>{required}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                text(&p["name"]),
                text(&p["in"]),
                type_of(&p["schema"]),
                prose(&p["description"]),
            );
        }
        page.push_str("</table>");
    }
    if let Some(content) = op["requestBody"]["content"].as_object() {
        for (kind, media) in content {
            let _ = write!(page, "<p>Body ({}): {}</p>", escape(kind), type_of(&media["schema"]));
        }
    }
    page.push_str("<table><tr><th>answer</th><th></th><th>body</th></tr>");
    for (status, response) in op["responses"].as_object().into_iter().flatten() {
        let body: Vec<String> = response["content"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(kind, media)| format!("{} ({})", type_of(&media["schema"]), escape(kind)))
            .collect();
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(status),
            text(&response["description"]),
            body.join(", ")
        );
    }
    page.push_str("</table></div>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_operations_and_schemas_escaped() {
        let doc = serde_json::json!({
            "openapi": "3.1.0",
            "info": {"title": "wagate", "description": "a <gateway>"},
            "tags": [{"name": "bot", "description": "the bot"}],
            "paths": {"/bot/config": {"put": {
                "tags": ["bot"], "description": "Replace it & `more`",
                "security": [{"bearer": []}],
                "parameters": [{"name": "session", "in": "query", "schema": {"type": ["string", "null"]}}],
                "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/BotConfig"}}}},
                "responses": {"422": {"description": "Unprocessable Entity"}},
            }}},
            "components": {"schemas": {"BotConfig": {"type": "object", "required": ["enabled"],
                "properties": {"enabled": {"type": "boolean", "description": "on"},
                               "menus": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/Menu"}}}}}},
        });
        let page = render(&doc);
        assert!(page.contains("a &lt;gateway&gt;") && !page.contains("<gateway>"));
        assert!(page.contains("<span class=\"method\">put</span><span class=\"path\">/bot/config</span>"));
        assert!(page.contains("Replace it &amp; <code>more</code>"));
        assert!(page.contains("Body (application/json): <a href=\"#schema-BotConfig\">BotConfig</a>"));
        assert!(page.contains("string or null"));
        assert!(page.contains("map of <a href=\"#schema-Menu\">Menu</a>"));
        assert!(page.contains("<td><code>enabled</code></td><td>boolean</td><td>required</td><td>on</td>"));
        assert!(page.contains("A bearer token"));
        assert!(!page.contains("<script"));
    }
}
