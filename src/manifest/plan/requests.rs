//! Planning the requests: method, path, headers, body and timeout checked, for a manifest's
//! `requests:` and for the one request of `benchrig load`.

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::Method;

use super::positive;
use crate::manifest::{types, Problem};

/// Time allowed for a whole response unless the request sets its own `timeout`.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A request, checked and with its defaults applied.
#[derive(Debug, Clone)]
pub struct RequestPlan {
    pub name: String,
    pub method: Method,
    /// Path and query, starting with `/`.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub weight: u32,
    pub timeout: Duration,
}

/// A request as written: an entry of a manifest's `requests:`, or `benchrig load`'s flags.
#[derive(Debug, Clone)]
pub struct RequestSpec<'a> {
    /// `None`: `METHOD path`.
    pub name: Option<&'a str>,
    pub method: &'a str,
    pub path: &'a str,
    /// In the order sent; a name may repeat (`-H` may be given twice for one header).
    pub headers: Vec<(&'a str, &'a str)>,
    pub body: Option<&'a str>,
    pub json: Option<&'a serde_json::Value>,
    pub weight: u32,
    pub timeout: Option<Duration>,
}

impl<'a> From<&'a types::Request> for RequestSpec<'a> {
    fn from(request: &'a types::Request) -> Self {
        RequestSpec {
            name: request.name.as_deref(),
            method: &request.method,
            path: &request.path,
            headers: request
                .headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str()))
                .collect(),
            body: request.body.as_deref(),
            json: request.json.as_ref(),
            weight: request.weight,
            timeout: request.timeout.map(|d| d.0),
        }
    }
}

impl RequestPlan {
    /// Plans one request outside a manifest; `at` names the field each problem is about
    /// (`"method"`, `"headers.NAME"`, …).
    pub fn from_spec(
        spec: &RequestSpec,
        at: &dyn Fn(&str) -> String,
    ) -> Result<RequestPlan, Vec<Problem>> {
        let mut problems = Vec::new();
        match plan_request(spec, at, &mut problems) {
            Some(plan) if problems.is_empty() => Ok(plan),
            _ => Err(problems),
        }
    }
}

pub(super) fn plan_requests(
    requests: &[types::Request],
    problems: &mut Vec<Problem>,
) -> Vec<RequestPlan> {
    if requests.is_empty() {
        problems.push(Problem::new(
            "requests",
            "no requests; add at least one, e.g. { method: GET, path: /hello }",
        ));
    }
    let mut seen = HashSet::new();
    let mut plans = Vec::new();
    for (i, request) in requests.iter().enumerate() {
        let at = |field: &str| format!("requests[{i}].{field}");
        let before = problems.len();
        reject_placeholders(request, &at, problems);
        let spec = RequestSpec::from(request);
        let plan = plan_request(&spec, &at, problems);
        let name = request_name(&spec);
        if is_valid_name(&name) && !seen.insert(name.clone()) {
            problems.push(Problem::new(
                at("name"),
                format!("duplicate request name `{name}`; give each request a distinct `name`"),
            ));
        }
        if problems.len() == before {
            plans.extend(plan);
        }
    }
    plans
}

/// A manifest's placeholders are rendered in commands only; in a request they would be sent
/// as written, which is never what was meant.
fn reject_placeholders(
    request: &types::Request,
    at: &dyn Fn(&str) -> String,
    problems: &mut Vec<Problem>,
) {
    let mut literal_fields = vec![
        ("path".to_owned(), Some(&request.path)),
        ("body".to_owned(), request.body.as_ref()),
    ];
    literal_fields.extend(
        request
            .headers
            .iter()
            .map(|(k, v)| (format!("headers.{k}"), Some(v))),
    );
    for (field, text) in literal_fields {
        if text.is_some_and(|t| t.contains("{{") || t.contains("{%")) {
            problems.push(Problem::new(
                at(&field),
                "placeholders are not supported in requests; write the value literally",
            ));
        }
    }
}

/// Plans one request; `None` when a problem was found. The name is checked for being text,
/// not for being unique: that is up to the list it is in.
fn plan_request(
    spec: &RequestSpec,
    at: &dyn Fn(&str) -> String,
    problems: &mut Vec<Problem>,
) -> Option<RequestPlan> {
    let before = problems.len();
    let method = parse_method(spec.method).unwrap_or_else(|e| {
        problems.push(Problem::new(at("method"), e));
        Method::GET
    });
    check_path(spec.path, &at("path"), problems);
    let name = request_name(spec);
    if !is_valid_name(&name) {
        problems.push(Problem::new(
            at("name"),
            "must be non-empty text without control characters",
        ));
    }
    let mut headers = HeaderMap::new();
    for (key, value) in &spec.headers {
        match parse_header(key, value) {
            Ok((key, value)) => {
                headers.append(key, value);
            }
            Err(e) => problems.push(Problem::new(at(&format!("headers.{key}")), e)),
        }
    }
    let body = match (spec.body, spec.json) {
        (Some(_), Some(_)) => {
            problems.push(Problem::new(
                at("body"),
                "both `body` and `json` are set; choose one",
            ));
            Bytes::new()
        }
        (Some(text), None) => Bytes::from(text.to_owned()),
        (None, Some(value)) => {
            if !headers.contains_key(CONTENT_TYPE) {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            Bytes::from(serde_json::to_vec(value).expect("a YAML value is valid JSON"))
        }
        (None, None) => Bytes::new(),
    };
    if spec.weight == 0 {
        problems.push(Problem::new(at("weight"), "must be at least 1"));
    }
    let timeout = positive(
        spec.timeout,
        DEFAULT_REQUEST_TIMEOUT,
        &at("timeout"),
        problems,
    );
    (problems.len() == before).then(|| RequestPlan {
        name,
        method,
        path: spec.path.to_owned(),
        headers,
        body,
        weight: spec.weight,
        timeout,
    })
}

/// The name in reports: as written, or `METHOD path`.
fn request_name(spec: &RequestSpec) -> String {
    spec.name.map_or_else(
        || {
            let method = parse_method(spec.method).unwrap_or(Method::GET);
            format!("{method} {}", spec.path)
        },
        str::to_owned,
    )
}

fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(char::is_control)
}

fn parse_method(text: &str) -> Result<Method, String> {
    Method::from_bytes(text.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("`{text}` is not an HTTP method"))
}

fn check_path(path: &str, field: &str, problems: &mut Vec<Problem>) {
    if !path.starts_with('/') {
        problems.push(Problem::new(
            field,
            format!("`{path}` must start with `/`; the host is the variant's own address"),
        ));
    } else if path.parse::<reqwest::Url>().is_err()
        && format!("http://127.0.0.1{path}")
            .parse::<reqwest::Url>()
            .is_err()
    {
        problems.push(Problem::new(
            field,
            format!("`{path}` is not a valid URL path"),
        ));
    }
}

fn parse_header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("`{name}` is not a valid header name"))?;
    let value = HeaderValue::from_str(value).map_err(|_| {
        "the value is not a valid header value (control characters or non-ASCII)".to_owned()
    })?;
    Ok((name, value))
}

/// Splits a header written on the command line, `Name: value`, around its first colon.
pub fn split_header_line(line: &str) -> Result<(&str, &str), String> {
    line.split_once(':')
        .map(|(name, value)| (name.trim(), value.trim()))
        .ok_or_else(|| format!("`{line}` must be written as 'Name: value'"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::plan::tests::problems;

    fn spec(method: &str, path: &str) -> RequestSpec<'static> {
        RequestSpec {
            name: None,
            method: method.to_owned().leak(),
            path: path.to_owned().leak(),
            headers: Vec::new(),
            body: None,
            json: None,
            weight: 1,
            timeout: None,
        }
    }

    fn problems_of(spec: &RequestSpec) -> Vec<String> {
        RequestPlan::from_spec(spec, &|field| format!("r.{field}"))
            .unwrap_err()
            .iter()
            .map(|p| p.to_string())
            .collect()
    }

    #[test]
    fn a_spec_gets_the_defaults_and_keeps_repeated_headers() {
        let mut get = spec("get", "/hello?x=1");
        get.headers = vec![("Cookie", "a=1"), ("Cookie", "b=2")];
        let plan = RequestPlan::from_spec(&get, &str::to_owned).unwrap();
        assert_eq!(plan.name, "GET /hello?x=1");
        assert_eq!(plan.method, Method::GET);
        assert_eq!(plan.timeout, DEFAULT_REQUEST_TIMEOUT);
        let cookies: Vec<_> = plan.headers.get_all("cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert!(plan.body.is_empty());
    }

    #[test]
    fn json_bodies_get_their_content_type_unless_one_is_given() {
        let json = serde_json::json!({ "id": 1 });
        let mut post = spec("POST", "/items");
        post.json = Some(&json);
        let plan = RequestPlan::from_spec(&post, &str::to_owned).unwrap();
        assert_eq!(&plan.body[..], br#"{"id":1}"#);
        assert_eq!(plan.headers[CONTENT_TYPE], "application/json");
        post.headers = vec![("content-type", "application/vnd.x+json")];
        let plan = RequestPlan::from_spec(&post, &str::to_owned).unwrap();
        assert_eq!(plan.headers[CONTENT_TYPE], "application/vnd.x+json");
    }

    #[test]
    fn every_field_of_a_spec_is_checked() {
        let mut bad = spec("NOT A METHOD", "no-slash");
        bad.headers = vec![("Bad Name", "1"), ("X-Ok", "line\nbreak")];
        bad.timeout = Some(Duration::ZERO);
        bad.weight = 0;
        assert_eq!(
            problems_of(&bad),
            [
                "r.method: `NOT A METHOD` is not an HTTP method",
                "r.path: `no-slash` must start with `/`; the host is the variant's own address",
                "r.headers.Bad Name: `Bad Name` is not a valid header name",
                "r.headers.X-Ok: the value is not a valid header value (control characters or non-ASCII)",
                "r.weight: must be at least 1",
                "r.timeout: must be greater than zero",
            ]
        );
    }

    #[test]
    fn header_lines_split_at_the_first_colon() {
        assert_eq!(
            split_header_line("Host:  example.com:8080 "),
            Ok(("Host", "example.com:8080"))
        );
        assert_eq!(
            split_header_line("NoColon").unwrap_err(),
            "`NoColon` must be written as 'Name: value'"
        );
    }

    #[test]
    fn manifest_requests_have_distinct_names_and_no_placeholders() {
        let text = "name: x\nvariants: [{ name: a, command: [server] }]\nphases: [{ name: p, vus: 1, iterations: 1 }]\nrequests:\n  - { path: /a }\n  - { path: /a, headers: { X-Id: \"{{ port }}\" } }\n";
        assert_eq!(
            problems(text),
            [
                "requests[1].headers.X-Id: placeholders are not supported in requests; write the value literally",
                "requests[1].name: duplicate request name `GET /a`; give each request a distinct `name`",
            ]
        );
    }
}
