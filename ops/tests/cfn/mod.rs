//! Reading the templates as CloudFormation reads them: the YAML with its short-form tags, the
//! policy statements of every resource, and the conditions for given parameter values.
#![allow(dead_code)]

use std::path::PathBuf;

use opsctl::templates::Template;
use serde_norway::Value;

pub fn parse(t: &Template) -> Value {
    serde_norway::from_str(t.body).unwrap_or_else(|e| panic!("{} is not YAML: {e}", t.file))
}

pub fn untag(v: &Value) -> &Value {
    match v {
        Value::Tagged(t) => untag(&t.value),
        other => other,
    }
}

pub fn tag(v: &Value) -> Option<&str> {
    match v {
        Value::Tagged(t) => Some(t.tag.to_string().leak()),
        _ => None,
    }
}

pub fn resources(doc: &Value) -> Vec<(String, &Value)> {
    doc["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_owned(), v))
        .collect()
}

pub fn strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Sequence(items) => items.iter().for_each(|i| strings(i, out)),
        Value::Mapping(m) => m.iter().for_each(|(k, v)| {
            strings(k, out);
            strings(v, out)
        }),
        Value::Tagged(t) => strings(&t.value, out),
        _ => {}
    }
}

/// Every string under `v`, tags dropped: `[!GetAtt A.Arn, x]` is `["A.Arn", "x"]`.
pub fn list(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    strings(v, &mut out);
    out.into_iter().map(str::to_owned).collect()
}

pub fn path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(file)
}

pub struct Statement<'a> {
    pub file: &'static str,
    pub resource: String,
    pub key_policy: bool,
    pub body: &'a Value,
}

pub fn statements_in<'a>(
    file: &'static str,
    resource: &str,
    key_policy: bool,
    doc: &'a Value,
    out: &mut Vec<Statement<'a>>,
) {
    for s in untag(&doc["Statement"]).as_sequence().into_iter().flatten() {
        // A statement may be wrapped in !If [cond, statement, AWS::NoValue].
        let bodies: Vec<&Value> = match s {
            Value::Tagged(t) if t.tag == "!If" => t.value.as_sequence().unwrap()[1..].iter().collect(),
            other => vec![other],
        };
        for body in bodies.into_iter().filter(|b| b.is_mapping()) {
            out.push(Statement { file, resource: resource.to_owned(), key_policy, body });
        }
    }
}

/// Every statement of every policy the templates define, under any condition: identity
/// policies, key policies, resource policies and trust policies.
pub fn all_statements(docs: &[(Template, Value)]) -> Vec<Statement<'_>> {
    let mut out = Vec::new();
    for (t, doc) in docs {
        for (id, r) in resources(doc) {
            let props = &r["Properties"];
            let key_policy = r["Type"].as_str() == Some("AWS::KMS::Key");
            for field in ["PolicyDocument", "KeyPolicy", "AssumeRolePolicyDocument"] {
                if props.get(field).is_some() {
                    statements_in(t.file, &id, key_policy, &props[field], &mut out);
                }
            }
            // AWS::S3Vectors::VectorBucketPolicy names its document `Policy`.
            if r["Type"].as_str().is_some_and(|t| t.ends_with("BucketPolicy"))
                && props.get("Policy").is_some()
            {
                statements_in(t.file, &id, false, &props["Policy"], &mut out);
            }
            for p in props.get("Policies").and_then(Value::as_sequence).into_iter().flatten() {
                statements_in(t.file, &id, false, &p["PolicyDocument"], &mut out);
            }
        }
    }
    out
}

/// Parameter values, by name, for evaluating a template's conditions.
pub type Params<'a> = [(&'a str, &'a str)];

/// Whether the template's condition `name` holds for `params`.
pub fn holds(doc: &Value, name: &str, params: &Params<'_>) -> bool {
    let condition = doc["Conditions"].get(name).unwrap_or_else(|| panic!("no condition {name}"));
    evaluate(doc, condition, params)
}

fn evaluate(doc: &Value, expr: &Value, params: &Params<'_>) -> bool {
    let Value::Tagged(t) = expr else { panic!("not a condition function: {expr:?}") };
    let operands = || t.value.as_sequence().expect("a list of operands");
    match t.tag.to_string().as_str() {
        "!Equals" => {
            let pair = operands();
            assert_eq!(pair.len(), 2, "!Equals takes two values");
            value_of(&pair[0], params) == value_of(&pair[1], params)
        }
        "!And" => operands().iter().all(|e| evaluate(doc, e, params)),
        "!Or" => operands().iter().any(|e| evaluate(doc, e, params)),
        "!Not" => !evaluate(doc, &operands()[0], params),
        "!Condition" => holds(doc, t.value.as_str().expect("a condition name"), params),
        other => panic!("unexpected condition function {other}"),
    }
}

fn value_of(v: &Value, params: &Params<'_>) -> String {
    match v {
        Value::Tagged(t) if t.tag == "!Ref" => {
            let name = t.value.as_str().expect("!Ref of a name");
            let found = params.iter().find(|(k, _)| *k == name);
            found.unwrap_or_else(|| panic!("no value given for parameter {name}")).1.to_owned()
        }
        other => other.as_str().unwrap_or_else(|| panic!("not a string: {other:?}")).to_owned(),
    }
}

/// Whether a resource or output exists for `params`: it has no Condition, or its Condition holds.
pub fn exists(doc: &Value, item: &Value, params: &Params<'_>) -> bool {
    item["Condition"].as_str().is_none_or(|c| holds(doc, c, params))
}

/// A value as CloudFormation resolves it for `params`: each `!If` replaced by the branch its
/// condition picks, an `AWS::NoValue` branch by nothing.
pub fn resolved(doc: &Value, v: &Value, params: &Params<'_>) -> Option<Value> {
    match v {
        Value::Tagged(t) if t.tag == "!If" => {
            let items = t.value.as_sequence().expect("!If [condition, then, else]");
            let condition = items[0].as_str().expect("a condition name");
            resolved(doc, &items[if holds(doc, condition, params) { 1 } else { 2 }], params)
        }
        Value::Tagged(t) if t.tag == "!Ref" && t.value.as_str() == Some("AWS::NoValue") => None,
        Value::Sequence(items) => {
            Some(Value::Sequence(items.iter().filter_map(|i| resolved(doc, i, params)).collect()))
        }
        Value::Mapping(m) => Some(Value::Mapping(
            m.iter().filter_map(|(k, v)| resolved(doc, v, params).map(|v| (k.clone(), v))).collect(),
        )),
        other => Some(other.clone()),
    }
}
