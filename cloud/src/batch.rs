//! Compute Engine's batch endpoint (`POST /batch/compute/v1`): a `multipart/mixed` body of HTTP
//! requests, answered by a `multipart/mixed` body of HTTP responses with matching Content-IDs.
//! gcloud sends one when a command makes several requests at once (deleting two instances, or
//! waiting on several operations).

use serde_json::Value;

/// One request inside a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The part's Content-ID (`<base+N>`).
    pub content_id: String,
    /// Method.
    pub method: String,
    /// Path and query.
    pub target: String,
    /// Body.
    pub body: String,
}

/// The boundary of a `multipart/mixed; boundary="..."` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        (k.eq_ignore_ascii_case("boundary")).then(|| v.trim_matches('"').to_string())
    })
}

/// Splits `text` at a blank line into (headers, rest), accepting CRLF or LF line ends.
fn split_head(text: &str) -> (&str, &str) {
    for sep in ["\r\n\r\n", "\n\n"] {
        if let Some(i) = text.find(sep) {
            return (&text[..i], &text[i + sep.len()..]);
        }
    }
    (text, "")
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

/// Parses a batch body; parts that are not HTTP requests are skipped.
pub fn parse(body: &str, boundary: &str) -> Vec<Part> {
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    for chunk in body.split(&delimiter).skip(1) {
        if chunk.starts_with("--") {
            break;
        }
        let chunk = chunk.trim_start_matches(['\r', '\n']);
        let (mime_head, http) = split_head(chunk);
        let content_id = header(mime_head, "Content-ID")
            .unwrap_or_default()
            .to_string();
        let (request_head, request_body) = split_head(http);
        let mut request_line = request_head
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace();
        let (Some(method), Some(target)) = (request_line.next(), request_line.next()) else {
            continue;
        };
        parts.push(Part {
            content_id,
            method: method.to_string(),
            target: target.to_string(),
            body: request_body.trim_end_matches(['\r', '\n']).to_string(),
        });
    }
    parts
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        412 => "Precondition Failed",
        _ => "Internal Server Error",
    }
}

/// The batch answer for `(content_id, status, body)` triples, with `boundary`.
pub fn render(answers: &[(String, u16, Value)], boundary: &str) -> String {
    let mut out = String::new();
    for (id, code, body) in answers {
        let inner = id.trim_start_matches('<').trim_end_matches('>');
        out.push_str(&format!(
            "--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <response-{inner}>\r\n\r\n\
             HTTP/1.1 {code} {}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{body}\r\n",
            reason(*code)
        ));
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BODY: &str = "\n--===============123==\nContent-Type: application/http\nMIME-Version: 1.0\n\
        Content-Transfer-Encoding: binary\nContent-ID: <abc+0>\n\n\
        GET /compute/v1/projects/p/zones/z/instances/a?alt=json HTTP/1.1\n\
        Content-Type: application/json\nMIME-Version: 1.0\n\n\n\
        --===============123==\nContent-Type: application/http\nContent-ID: <abc+1>\n\n\
        POST /compute/v1/projects/p/zones/z/operations/op/wait?alt=json HTTP/1.1\n\
        Content-Type: application/json\n\n{\"x\": 1}\n--===============123==--";

    #[test]
    fn parses_the_parts_gcloud_sends() {
        let ct = "multipart/mixed; boundary=\"===============123==\"";
        let b = boundary(ct).unwrap();
        let parts = parse(BODY, &b);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].content_id, "<abc+0>");
        assert_eq!(parts[0].method, "GET");
        assert_eq!(
            parts[0].target,
            "/compute/v1/projects/p/zones/z/instances/a?alt=json"
        );
        assert_eq!(parts[0].body, "");
        assert_eq!(parts[1].method, "POST");
        assert_eq!(parts[1].body, "{\"x\": 1}");
    }

    #[test]
    fn renders_responses_with_matching_ids() {
        let text = render(&[("<abc+0>".into(), 404, json!({"error": {}}))], "b1");
        assert!(text.contains("Content-ID: <response-abc+0>"), "{text}");
        assert!(text.contains("HTTP/1.1 404 Not Found"), "{text}");
        assert!(text.ends_with("--b1--\r\n"));
    }
}
