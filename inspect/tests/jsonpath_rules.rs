//! Focused checks of kubectl JSONPath rules that surprise people, through the public API.

use meshbook_inspect::jsonpath::{Error, ExecError, JsonPath, render_template};
use serde_json::{Value, json};

fn render(template: &str, data: &Value) -> String {
    render_template(template, data, true).unwrap_or_else(|e| panic!("{template}: {e}"))
}

fn strict(template: &str, data: &Value) -> Result<String, String> {
    render_template(template, data, false).map_err(|e| e.to_string())
}

fn clusters() -> Value {
    json!({"clusters": [
        {"name": "a", "cluster": {"server": "https://a"}},
        {"name": "b", "cluster": {"server": "https://b"}}
    ]})
}

#[test]
fn empty_brackets_select_the_first_element_only() {
    assert_eq!(render("{.clusters[].name}", &clusters()), "a");
    assert_eq!(render("{.clusters[*].name}", &clusters()), "a b");
}

#[test]
fn missing_keys_fail_only_when_no_input_has_the_key() {
    let data = json!({"items": [{"a": 1}, {"b": 2}]});
    assert_eq!(strict("{.items[*].a}", &data), Ok("1".into()));
    assert_eq!(strict("{.items[*].c}", &data), Err("c is not found".into()));
    // After a missing key there are no inputs left, so the next step cannot fail again.
    assert_eq!(render("before-{.x.y}after", &data), "before-after");
}

#[test]
fn array_errors_are_not_covered_by_allow_missing_keys() {
    let err =
        render_template("{.items[0].x}", &json!({"items": []}), true).expect_err("out of bounds");
    assert_eq!(
        err,
        Error::Exec(ExecError::OutOfBounds {
            index: 0,
            length: 0
        })
    );
}

#[test]
fn a_slice_selecting_nothing_stops_the_step() {
    // kubectl 1.32 and client-go master: the second list is never reached.
    let data = json!([[], ["second"]]);
    assert_eq!(strict("{[*][*]}", &data), Ok(String::new()));
}

#[test]
fn union_branches_run_over_all_inputs_in_turn() {
    let data = json!({"items": [{"n": "a", "v": 1}, {"n": "b", "v": 2}]});
    assert_eq!(render("{.items[*]['n','v']}", &data), "a b 1 2");
}

#[test]
fn range_repeats_its_body_and_nests() {
    let data = json!({"items": [{"n": "a", "c": [{"x": 1}, {"x": 2}]}, {"n": "b", "c": []}]});
    assert_eq!(
        render("{range .items[*]}{.n}:{range .c[*]}{.x},{end};{end}", &data),
        "a:1,2,;b:;"
    );
    assert_eq!(
        strict("{end}", &data),
        Err("not in range, nothing to end".into())
    );
}

#[test]
fn range_over_nothing_still_evaluates_its_body_strictly() {
    // client-go runs the body once on "no value" to find `{end}`; missing keys then fail.
    let data = json!({"items": []});
    assert_eq!(render("{range .items[*]}{.n}{end}", &data), "");
    assert_eq!(
        strict("{range .items[*]}{.n}{end}", &data),
        Err("n is not found".into())
    );
}

#[test]
fn null_range_elements_become_no_value() {
    let data = json!({"a": [1, null]});
    assert_eq!(render("{range .a[*]}[{@}]{end}", &data), "[1][<no value>]");
    assert_eq!(render("{.a[*]}", &data), "1 null");
}

#[test]
fn scalars_print_raw_and_containers_as_sorted_json() {
    let data =
        json!({"s": "a<b", "n": null, "i": 3, "f": 1.0, "big": 1e6, "m": {"z": 1, "a": "<&>"}});
    assert_eq!(
        render("{.s} {.n} {.i} {.f} {.big}", &data),
        "a<b null 3 1 1e+06"
    );
    assert_eq!(render("{.m}", &data), r#"{"a":"\u003c\u0026\u003e","z":1}"#);
}

#[test]
fn filters_compare_like_go_templates() {
    let data = json!({"ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}]});
    assert_eq!(render("{.ports[?(@.port>100)].name}", &data), "https");
    assert_eq!(render("{.ports[?(@.name=='http')].port}", &data), "80");
    assert_eq!(
        strict("{.ports[?(@.port==80.0)].name}", &data),
        Err("incompatible types for comparison".into())
    );
    assert_eq!(
        strict("{.ports[?(@.port<>80)].name}", &data),
        Err("unrecognized filter operator <>".into())
    );
}

#[test]
fn existence_filter_keeps_elements_whose_path_errors_with_values() {
    // An index error hands its input back, and a non-empty list counts as "exists".
    let data = json!({"items": [{"n": "a", "v": [1]}, {"n": "b", "v": []}, {"n": "c"}]});
    assert_eq!(strict("{.items[?(@.v[0])].n}", &data), Ok("a b".into()));
}

#[test]
fn filter_errors_do_not_reveal_string_or_map_data() {
    let secret = json!({"data": {"token": "c2VjcmV0"}});
    let err = strict("{.data[?(@.x)]}", &secret).expect_err("not an array");
    assert_eq!(
        err,
        "<map[string]interface {}> is not array or slice and cannot be filtered"
    );
    let err = strict("{.data.token[?(@.x)]}", &secret).expect_err("not an array");
    assert!(!err.contains("c2VjcmV0"), "{err}");
}

#[test]
fn wildcard_over_a_string_yields_its_bytes() {
    assert_eq!(render("{.s.*}", &json!({"s": "hé"})), "104 195 169");
}

#[test]
fn jsonpath_as_json_wraps_each_node() {
    let path = JsonPath::parse("{.items[*].n}").expect("parses");
    let out = path
        .render_as_json(&json!({"items": [{"n": "a"}, {"n": "b"}]}), true)
        .expect("renders");
    assert_eq!(out, "[\n    \"a\",\n    \"b\"\n]\n");
}

#[test]
fn find_results_returns_each_node_including_text() {
    let path = JsonPath::parse("x={.a[*]}").expect("parses");
    let results = path
        .find_results(&json!({"a": [1, "two"]}), false)
        .expect("runs");
    assert_eq!(
        results,
        vec![vec![json!("x=")], vec![json!(1), json!("two")]]
    );
}

#[test]
fn parse_errors_carry_a_character_offset() {
    let err = JsonPath::parse("{.a} {.b[?(@.c}").expect_err("unterminated");
    assert_eq!(err.to_string(), "unterminated filter");
    assert_eq!(err.offset, 15);
    assert!("{.a".parse::<JsonPath>().is_err());
}

#[test]
fn unknown_words_parse_but_fail_to_run() {
    let path = JsonPath::parse("{invalid}").expect("identifiers parse");
    assert_eq!(
        path.render(&json!({}), true),
        Err(ExecError::UnrecognizedIdentifier("invalid".into()))
    );
}
