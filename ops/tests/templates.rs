//! Assertions about the template set itself: generated parts are current, RAG is gated, IAM is
//! tight, and every template fits CloudFormation's limits.

mod cfn;

use std::collections::{BTreeSet, HashSet};

use cfn::{Statement, all_statements, list, parse, path, resources, strings, tag, untag};
use opsctl::dashboards::Spec;
use opsctl::templates::{self, MAX_TEMPLATE_BYTES, Template};
use serde_norway::Value;

// ---------------------------------------------------------------------------------------------

#[test]
fn every_template_fits_the_inline_limit_and_parses() {
    for t in templates::all() {
        assert!(t.body.len() < MAX_TEMPLATE_BYTES, "{} is {} bytes", t.file, t.body.len());
        let doc = parse(&t);
        assert_eq!(doc["AWSTemplateFormatVersion"].as_str(), Some("2010-09-09"), "{}", t.file);
        assert!(!resources(&doc).is_empty());
    }
}

#[test]
fn the_dashboard_body_is_generated_from_the_spec() {
    let update =
        test_support::snapshots::update_requested("UPDATE_TEMPLATES").unwrap_or_else(|e| panic!("{e}"));
    let spec = Spec::embedded().unwrap();
    let file = path("templates/observability.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let begin = text.find("# BEGIN GENERATED").expect("BEGIN GENERATED marker");
    let start = text[begin..].find('\n').unwrap() + begin + 1;
    let end_marker = text.find("# END GENERATED").expect("END GENERATED marker");
    let end = text[..end_marker].rfind('\n').unwrap() + 1;
    let indent = &text[begin - 6..begin];
    assert_eq!(indent, "      ");
    let expected = spec.template_block(indent);
    if text[start..end] != expected {
        if update {
            std::fs::write(&file, format!("{}{expected}{}", &text[..start], &text[end..])).unwrap();
            return;
        }
        panic!(
            "templates/observability.yaml's dashboard body is stale: regenerate it with \
             `UPDATE_TEMPLATES=1 cargo test -p opsctl --test templates`"
        );
    }
}

type MetricKey = (String, String, Vec<(String, String)>, String);

/// What the deployed CloudWatch dashboard shows, read back from the template.
fn dashboard_metrics(rag: bool) -> BTreeSet<MetricKey> {
    let doc = parse(&templates::NESTED[4]);
    let body = &doc["Resources"]["Dashboard"]["Properties"]["DashboardBody"];
    assert_eq!(tag(body), Some("!If"));
    let branches = untag(body).as_sequence().unwrap();
    assert_eq!(branches[0].as_str(), Some("IsRAGEnabled"));
    let json = untag(&branches[if rag { 1 } else { 2 }]).as_str().unwrap();
    let body: serde_json::Value = serde_json::from_str(json).expect("dashboard body is JSON");
    let mut out = BTreeSet::new();
    for w in body["widgets"].as_array().unwrap() {
        for row in w["properties"]["metrics"].as_array().into_iter().flatten() {
            let row = row.as_array().unwrap();
            let Some(ns) = row[0].as_str() else { continue };
            let opts = row.last().unwrap();
            let dims = row[2..row.len() - 1]
                .chunks(2)
                .map(|kv| (kv[0].as_str().unwrap().to_owned(), kv[1].as_str().unwrap().to_owned()))
                .collect();
            out.insert((
                ns.to_owned(),
                row[1].as_str().unwrap().to_owned(),
                dims,
                opts["stat"].as_str().unwrap().to_owned(),
            ));
        }
    }
    out
}

#[test]
fn the_cloudwatch_dashboard_shows_exactly_the_spec_metrics() {
    let spec = Spec::embedded().unwrap();
    for rag in [false, true] {
        let from_spec: BTreeSet<MetricKey> = spec
            .metrics(rag)
            .iter()
            .map(|m| {
                let dims = m.dimensions.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                (m.namespace.clone(), m.name.clone(), dims, m.stat.clone())
            })
            .collect();
        assert_eq!(dashboard_metrics(rag), from_spec, "rag={rag}");
    }
}

#[test]
fn the_alarm_panel_lists_every_alarm_of_the_templates() {
    let spec = Spec::embedded().unwrap();
    let panel = spec.panels.iter().find(|p| p.id == "alarms").unwrap();
    let listed: BTreeSet<String> =
        panel.alarms.iter().map(|a| a.name.replace("${Environment}", "ENV")).collect();
    let doc = parse(&templates::NESTED[4]);
    let mut defined = BTreeSet::new();
    for (id, r) in resources(&doc) {
        if r["Type"].as_str() == Some("AWS::CloudWatch::Alarm") {
            let name =
                untag(&r["Properties"]["AlarmName"]).as_str().unwrap().replace("${Environment}", "ENV");
            let rag = r["Condition"].as_str() == Some("IsRAGEnabled");
            let in_spec = panel.alarms.iter().find(|a| a.name.replace("${Environment}", "ENV") == name);
            assert_eq!(in_spec.map(|a| a.rag), Some(rag), "alarm {id} ({name}) and the spec disagree");
            defined.insert(name);
        }
    }
    assert_eq!(listed, defined);
}

// ---------------------------------------------------------------------------------------------

const RAG_MARKERS: [&str; 6] =
    ["chatbot-ingest-", "chatbot-retrieve-", "ingest-dlq", "chatbot-vectors", "aoss", "s3vectors"];

/// Whether condition `name` can hold only with RAG on: `IsRAGEnabled` itself, or an `!And` with
/// such an operand: `IsRAGEnabled`'s own test, or `!Condition` of such a condition.
fn implies_rag(doc: &Value, name: &str) -> bool {
    if name == "IsRAGEnabled" {
        return true;
    }
    let condition = &doc["Conditions"][name];
    tag(condition) == Some("!And")
        && untag(condition).as_sequence().into_iter().flatten().any(|operand| {
            *operand == doc["Conditions"]["IsRAGEnabled"]
                || tag(operand) == Some("!Condition")
                    && untag(operand).as_str().is_some_and(|n| implies_rag(doc, n))
        })
}

/// Finds strings naming RAG resources that are not behind a condition that implies RAG.
fn ungated<'a>(doc: &Value, v: &'a Value, gated: bool, out: &mut Vec<&'a str>) {
    match v {
        Value::Tagged(t) if t.tag == "!If" => {
            let items = t.value.as_sequence().unwrap();
            let on_rag = items[0].as_str().is_some_and(|c| implies_rag(doc, c));
            ungated(doc, &items[1], gated || on_rag, out);
            ungated(doc, &items[2], gated, out);
        }
        Value::Tagged(t) => ungated(doc, &t.value, gated, out),
        Value::String(s) if !gated && RAG_MARKERS.iter().any(|m| s.contains(m)) => out.push(s),
        Value::Sequence(items) => items.iter().for_each(|i| ungated(doc, i, gated, out)),
        Value::Mapping(m) => m.iter().for_each(|(_, v)| ungated(doc, v, gated, out)),
        _ => {}
    }
}

#[test]
fn every_rag_resource_is_gated_by_is_rag_enabled() {
    let main = parse(&templates::MAIN);
    assert_eq!(main["Resources"]["AiStack"]["Condition"].as_str(), Some("IsRAGEnabled"));
    for (name, out) in main["Outputs"].as_mapping().unwrap() {
        let mut refs = Vec::new();
        strings(out, &mut refs);
        if refs.iter().any(|s| s.starts_with("AiStack.")) {
            let condition = out["Condition"].as_str().unwrap_or_default();
            assert!(implies_rag(&main, condition), "output {name:?} is not behind IsRAGEnabled");
        }
    }
    // Outside ai.yaml (gated as a whole), anything naming a RAG resource sits behind the condition.
    for t in templates::all().iter().filter(|t| t.file != "ai.yaml") {
        let doc = parse(t);
        let takes_flag = doc["Parameters"].get("EnableRAG").is_some();
        for section in ["Resources", "Outputs"] {
            let Some(items) = doc.get(section).and_then(Value::as_mapping) else { continue };
            for (id, item) in items {
                let gated = item["Condition"].as_str().is_some_and(|c| implies_rag(&doc, c));
                let mut found = Vec::new();
                ungated(&doc, item, gated, &mut found);
                // The key's S3 Vectors grants do not depend on RAG, as its SQS grant does not:
                // they name only the vector bucket, which exists only with RAG on S3 Vectors.
                if t.file == "security.yaml" && id.as_str() == Some("Key") {
                    found.retain(|s| !s.contains("s3vectors"));
                }
                assert!(
                    found.is_empty(),
                    "{}: {section}.{} names RAG resources without IsRAGEnabled: {found:?}",
                    t.file,
                    id.as_str().unwrap()
                );
                if gated {
                    assert!(takes_flag, "{} gates on IsRAGEnabled without an EnableRAG parameter", t.file);
                }
            }
        }
        if takes_flag {
            let cond = &doc["Conditions"]["IsRAGEnabled"];
            assert_eq!(tag(cond), Some("!Equals"), "{}", t.file);
        }
    }
}

// ---------------------------------------------------------------------------------------------

/// Actions that have no resource-level permissions, so `Resource: "*"` is their only form.
const STAR_RESOURCE_ALLOWLIST: [&str; 3] =
    ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "cloudwatch:PutMetricData"];

#[test]
fn iam_statements_are_least_privilege() {
    let docs: Vec<(Template, Value)> = templates::all().into_iter().map(|t| (t, parse(&t))).collect();
    let statements = all_statements(&docs);
    assert!(statements.len() > 20, "found only {} statements", statements.len());
    let mut seen_files = HashSet::new();
    for s in &statements {
        seen_files.insert(s.file);
        let allow = s.body["Effect"].as_str() == Some("Allow");
        let actions = list(&s.body["Action"]);
        let sid = s.body["Sid"].as_str().unwrap_or("?");
        let at = format!("{}: {} statement {sid}", s.file, s.resource);
        assert!(!actions.iter().any(|a| a == "*"), "{at}: Action \"*\"");
        if allow {
            for a in &actions {
                assert!(!a.ends_with(":*"), "{at}: allows every action of a service ({a})");
            }
        }
        let resources = list(&s.body["Resource"]);
        if allow && resources.iter().any(|r| r == "*") && !s.key_policy {
            for a in &actions {
                assert!(STAR_RESOURCE_ALLOWLIST.contains(&a.as_str()), "{at}: {a} on Resource \"*\"");
            }
        }
        // In a key policy, Resource "*" means this key; its principals must never be "*".
        if s.key_policy {
            assert_ne!(s.body["Principal"].as_str(), Some("*"), "{at}: key policy open to everyone");
            if actions.iter().any(|a| a == "kms:Decrypt" || a == "kms:GenerateDataKey")
                && !s.body["Condition"].is_mapping()
            {
                panic!("{at}: key use without a condition");
            }
        }
    }
    for f in ["security.yaml", "ai.yaml", "storage.yaml"] {
        assert!(seen_files.contains(f), "no statements found in {f}");
    }
}

#[test]
fn the_root_account_never_gets_kms_star() {
    let doc = parse(&templates::NESTED[0]);
    let key = &doc["Resources"]["Key"]["Properties"]["KeyPolicy"];
    let mut texts = Vec::new();
    strings(key, &mut texts);
    assert!(!texts.contains(&"kms:*"));
}

#[test]
fn nested_stacks_get_exactly_the_parameters_they_declare() {
    let main = parse(&templates::MAIN);
    for t in templates::NESTED {
        let stack = resources(&main)
            .into_iter()
            .find(|(_, r)| {
                let mut s = Vec::new();
                strings(&r["Properties"]["TemplateURL"], &mut s);
                s.iter().any(|s| s.contains(t.key_parameter.unwrap()))
            })
            .unwrap_or_else(|| panic!("no nested stack uses {}", t.file));
        let passed: BTreeSet<String> = stack.1["Properties"]["Parameters"]
            .as_mapping()
            .unwrap()
            .keys()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect();
        let doc = parse(&t);
        let declared = doc["Parameters"].as_mapping().unwrap();
        let required: BTreeSet<String> = declared
            .iter()
            .filter(|(_, p)| p.get("Default").is_none())
            .map(|(k, _)| k.as_str().unwrap().to_owned())
            .collect();
        let known: BTreeSet<String> = declared.keys().map(|k| k.as_str().unwrap().to_owned()).collect();
        assert!(
            required.is_subset(&passed),
            "{}: missing {:?}",
            t.file,
            required.difference(&passed).collect::<Vec<_>>()
        );
        assert!(
            passed.is_subset(&known),
            "{}: unknown {:?}",
            t.file,
            passed.difference(&known).collect::<Vec<_>>()
        );
    }
}

#[test]
fn every_checkov_skip_is_inline_with_a_reason() {
    let mut skips = 0;
    for t in templates::all() {
        let doc = parse(&t);
        for (id, r) in resources(&doc) {
            let Some(list) = r.get("Metadata").and_then(|m| m.get("checkov")).and_then(|c| c.get("skip"))
            else {
                continue;
            };
            for skip in list.as_sequence().expect("skip is a list") {
                let check = skip["id"].as_str().unwrap_or_default();
                let reason = skip["comment"].as_str().unwrap_or_default();
                assert!(check.starts_with("CKV"), "{}: {id} skips {check:?}", t.file);
                assert!(
                    reason.split_whitespace().count() >= 8,
                    "{}: {id} skips {check} without a real reason",
                    t.file
                );
                skips += 1;
            }
        }
    }
    // A new skip is a decision: raise this number in the same change, with the reason inline.
    assert_eq!(skips, 13, "checkov skips changed");
}

// ---------------------------------------------------------------------------------------------

/// A resource's `DeletionPolicy` or `UpdateReplacePolicy` in `env`: a plain policy, or
/// `!If [Condition, A, B]` over a condition of the form `!Equals [!Ref Environment, X]`.
fn policy_in(doc: &Value, resource: &str, attribute: &str, env: &str) -> String {
    let value = &doc["Resources"][resource][attribute];
    match tag(value) {
        None => value.as_str().unwrap_or("Delete").to_owned(),
        Some("!If") => {
            let branches = untag(value).as_sequence().unwrap();
            let condition = untag(&doc["Conditions"][branches[0].as_str().unwrap()]).as_sequence().unwrap();
            assert_eq!(
                untag(&condition[0]).as_str(),
                Some("Environment"),
                "{resource}: condition on Environment"
            );
            let holds = condition[1].as_str() == Some(env);
            branches[if holds { 1 } else { 2 }].as_str().unwrap().to_owned()
        }
        Some(other) => panic!("{resource}.{attribute}: unexpected {other}"),
    }
}

#[test]
fn the_kms_key_is_retained_whenever_the_data_it_protects_is() {
    let storage = parse(&templates::NESTED[1]);
    let security = parse(&templates::NESTED[0]);
    assert_eq!(templates::NESTED[1].file, "storage.yaml");
    assert_eq!(templates::NESTED[0].file, "security.yaml");
    for env in ["dev", "staging", "prod"] {
        for attribute in ["DeletionPolicy", "UpdateReplacePolicy"] {
            let data_retained = ["ConversationsTable", "DocumentsBucket"]
                .iter()
                .any(|r| policy_in(&storage, r, attribute, env) == "Retain");
            if env == "prod" {
                assert!(data_retained, "prod retains its data ({attribute})");
            }
            for key in ["Key", "KeyAlias"] {
                let policy = policy_in(&security, key, attribute, env);
                if data_retained {
                    assert_eq!(policy, "Retain", "{env}: {key}.{attribute} must be Retain while the data is");
                }
            }
        }
    }
}

#[test]
fn the_key_lets_cloudwatch_logs_use_it_only_for_the_projects_log_groups() {
    let security = parse(&templates::NESTED[0]);
    let statements = untag(&security["Resources"]["Key"]["Properties"]["KeyPolicy"]["Statement"]);
    let logs = statements
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["Sid"].as_str() == Some("CloudWatchLogsEncryptsTheProjectsLogGroups"))
        .expect("the logs statement");
    let condition = logs["Condition"].as_mapping().unwrap();
    assert!(condition.get("ArnLike").is_none(), "no wildcard matching of log-group ARNs");
    let named = list(&logs["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"]);
    // Every log group the templates encrypt with the key, and only those, by exact ARN.
    let mut encrypted = BTreeSet::new();
    for t in templates::all() {
        let doc = parse(&t);
        for (_, r) in resources(&doc) {
            if r["Type"].as_str() == Some("AWS::Logs::LogGroup") && r["Properties"].get("KmsKeyId").is_some()
            {
                encrypted.insert(untag(&r["Properties"]["LogGroupName"]).as_str().unwrap().to_owned());
            }
        }
    }
    let arns: BTreeSet<String> = named
        .iter()
        .filter(|s| s.starts_with("arn:"))
        .map(|s| {
            assert!(!s.contains('*') && !s.contains('?'), "a wildcard in {s}");
            s.rsplit_once(":log-group:").unwrap().1.to_owned()
        })
        .collect();
    assert_eq!(arns, encrypted);
}

#[test]
fn the_ingest_function_handles_one_event_at_a_time_by_default() {
    let main = parse(&templates::MAIN);
    assert_eq!(main["Parameters"]["SerializeIngestion"]["Default"].as_str(), Some("true"));
    let ai = parse(&templates::NESTED[3]);
    assert_eq!(templates::NESTED[3].file, "ai.yaml");
    let reserved = &ai["Resources"]["IngestFunction"]["Properties"]["ReservedConcurrentExecutions"];
    assert_eq!(tag(reserved), Some("!If"));
    let branches = untag(reserved).as_sequence().unwrap();
    assert_eq!(branches[0].as_str(), Some("SerializesIngestion"));
    assert_eq!(branches[1].as_u64(), Some(1));
    let condition = untag(&ai["Conditions"]["SerializesIngestion"]).as_sequence().unwrap();
    assert_eq!(untag(&condition[0]).as_str(), Some("SerializeIngestion"));
    assert_eq!(condition[1].as_str(), Some("true"));
}

#[test]
fn nothing_is_public_or_costly_by_default() {
    let main = parse(&templates::MAIN);
    let default = |p: &str| main["Parameters"][p]["Default"].clone();
    assert_eq!(default("EnableRAG").as_str(), Some("false"), "RAG and its cost floor are opt-in");
    // The function URL is public, so the chat function's reserved concurrency is what caps a flood.
    assert_eq!(default("ChatReservedConcurrency").as_u64(), Some(10));
    let compute = parse(&templates::NESTED[2]);
    assert_eq!(templates::NESTED[2].file, "compute.yaml");
    let chat = &compute["Resources"]["ChatFunction"]["Properties"];
    let reserved = untag(&chat["ReservedConcurrentExecutions"]);
    assert_eq!(
        list(&reserved.as_sequence().expect("!If [reserved, value, NoValue]")[1]),
        ["ReservedConcurrency"]
    );
    // Anyone may call the URL, and only through it: no public direct Invoke of the function.
    let permissions: Vec<&Value> = resources(&compute)
        .into_iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Lambda::Permission"))
        .map(|(_, r)| &r["Properties"])
        .collect();
    assert_eq!(permissions.len(), 2, "{permissions:?}");
    for p in permissions {
        assert_eq!(p["Principal"].as_str(), Some("*"));
        match p["Action"].as_str() {
            Some("lambda:InvokeFunctionUrl") => assert_eq!(p["FunctionUrlAuthType"].as_str(), Some("NONE")),
            Some("lambda:InvokeFunction") => assert_eq!(p["InvokedViaFunctionUrl"].as_bool(), Some(true)),
            other => panic!("unexpected permission {other:?}"),
        }
    }

    // Every bucket blocks public access and refuses plain HTTP.
    let mut buckets = 0;
    for t in templates::all() {
        let doc = parse(&t);
        for (id, r) in resources(&doc) {
            if r["Type"].as_str() != Some("AWS::S3::Bucket") {
                continue;
            }
            buckets += 1;
            let block = &r["Properties"]["PublicAccessBlockConfiguration"];
            for field in ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"]
            {
                assert_eq!(block[field].as_bool(), Some(true), "{}: {id}.{field}", t.file);
            }
            let policy = resources(&doc)
                .into_iter()
                .find(|(_, p)| {
                    p["Type"].as_str() == Some("AWS::S3::BucketPolicy")
                        && list(&p["Properties"]["Bucket"]) == [id.as_str()]
                })
                .unwrap_or_else(|| panic!("{}: no policy for {id}", t.file))
                .1;
            let tls_only = untag(&policy["Properties"]["PolicyDocument"]["Statement"])
                .as_sequence()
                .unwrap()
                .iter()
                .any(|s| {
                    s["Effect"].as_str() == Some("Deny")
                        && s["Principal"].as_str() == Some("*")
                        && s["Condition"]["Bool"]["aws:SecureTransport"].as_str() == Some("false")
                });
            assert!(tls_only, "{}: {id} accepts plain HTTP", t.file);
        }
    }
    assert!(buckets >= 2, "found {buckets} buckets");
}

/// The chat Lambda's table access: exactly the calls its adapters make (Query for history and
/// pages, GetItem for a listing entry, PutItem and UpdateItem for messages, listing entries and
/// idempotency records, DeleteItem and BatchWriteItem to delete a conversation) on the
/// conversations table, and Query alone on its listing index: no other table, never a Scan.
#[test]
fn the_chat_role_reaches_the_conversations_table_with_exactly_the_calls_it_makes() {
    let docs: Vec<(Template, Value)> = templates::all().into_iter().map(|t| (t, parse(&t))).collect();
    let statements = all_statements(&docs);
    let by_sid = |sid: &str| -> Vec<&Statement<'_>> {
        statements.iter().filter(|s| s.body["Sid"].as_str() == Some(sid)).collect()
    };
    let conversations = by_sid("Conversations");
    assert_eq!(conversations.len(), 1, "one Conversations statement");
    let s = conversations[0];
    assert_eq!(s.file, "security.yaml");
    assert_eq!(
        list(&s.body["Action"]),
        [
            "dynamodb:Query",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:BatchWriteItem"
        ]
    );
    let resources = list(&s.body["Resource"]);
    assert_eq!(resources.len(), 1, "{resources:?}");
    assert!(resources[0].ends_with(":table/chatbot-conversations-${Environment}"), "{resources:?}");
    let index = by_sid("ConversationList");
    assert_eq!(index.len(), 1, "one ConversationList statement");
    assert_eq!(list(&index[0].body["Action"]), ["dynamodb:Query"]);
    let resources = list(&index[0].body["Resource"]);
    assert!(
        resources[0].ends_with(":table/chatbot-conversations-${Environment}/index/by_owner_updated"),
        "{resources:?}"
    );
    let scans =
        statements.iter().filter(|s| list(&s.body["Action"]).iter().any(|a| a.contains("Scan"))).count();
    assert_eq!(scans, 0, "no role may Scan");
}

/// The chat Lambda's Bedrock access: Converse (`bedrock:InvokeModel`) and ConverseStream
/// (`bedrock:InvokeModelWithResponseStream`), both on the chat model's inference profile and its
/// foundation model only; no other Bedrock action, and no other statement granting either.
#[test]
fn the_chat_role_may_converse_and_stream_with_its_model_and_nothing_else() {
    let docs: Vec<(Template, Value)> = templates::all().into_iter().map(|t| (t, parse(&t))).collect();
    let statements = all_statements(&docs);
    let chat_bedrock: Vec<&Statement<'_>> = statements
        .iter()
        .filter(|s| s.resource == "ChatRole")
        .filter(|s| list(&s.body["Action"]).iter().any(|a| a.starts_with("bedrock:")))
        .collect();
    assert_eq!(chat_bedrock.len(), 1, "one Bedrock statement on the chat role");
    let s = chat_bedrock[0];
    assert_eq!((s.file, s.body["Sid"].as_str()), ("security.yaml", Some("Model")));
    assert_eq!(list(&s.body["Action"]), ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]);
    let resources = list(&s.body["Resource"]);
    assert!(resources.iter().any(|r| r.contains(":inference-profile/${ChatModelId}")), "{resources:?}");
    assert!(resources.iter().any(|r| r.contains("::foundation-model/${Provider}.${Model}")), "{resources:?}");
    assert!(!resources.iter().any(|r| r == "*" || r.ends_with("foundation-model/*")), "{resources:?}");
    // Only the chat Lambda streams: the embedding roles keep InvokeModel alone.
    let streaming = statements
        .iter()
        .filter(|s| list(&s.body["Action"]).iter().any(|a| a == "bedrock:InvokeModelWithResponseStream"))
        .count();
    assert_eq!(streaming, 1, "one statement allows streaming");
}

/// A browser client may send `Idempotency-Key`, and ask for a stream, when CORS is on; never the
/// web app's `X-Chat-CSRF` header, which a cross-site page must be unable to send.
#[test]
fn cors_allows_the_idempotency_key_and_accept_headers() {
    let compute = templates::all().into_iter().find(|t| t.file == "compute.yaml").expect("compute.yaml");
    let doc = parse(&compute);
    let cors = untag(&doc["Resources"]["ChatUrl"]["Properties"]["Cors"]);
    let allowed = list(&cors.as_sequence().expect("!If [condition, config, NoValue]")[1]["AllowHeaders"]);
    assert_eq!(allowed, ["authorization", "content-type", "idempotency-key", "accept"]);
}

/// One HTTPS origin that can stream: the chat function's URL in RESPONSE_STREAM mode, and no API
/// Gateway. A turn may stream for as long as the function runs, and its idempotency key is held
/// for longer, so a retry never starts a second turn beside one still streaming.
#[test]
fn the_api_is_one_streaming_function_url() {
    let compute = parse(&templates::NESTED[2]);
    let urls: Vec<_> = resources(&compute)
        .into_iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Lambda::Url"))
        .collect();
    assert_eq!(urls.len(), 1);
    let url = &urls[0].1["Properties"];
    assert_eq!(url["InvokeMode"].as_str(), Some("RESPONSE_STREAM"));
    assert_eq!(url["AuthType"].as_str(), Some("NONE"), "the function checks the token");
    assert_eq!(list(&url["TargetFunctionArn"]), ["ChatFunction.Arn"]);
    for t in templates::all() {
        assert!(!t.body.contains("AWS::ApiGateway"), "{} still has an API Gateway", t.file);
    }
    assert_eq!(list(&compute["Outputs"]["ApiUrl"]["Value"]), ["ChatUrl.FunctionUrl"]);

    let chat = &compute["Resources"]["ChatFunction"]["Properties"];
    let timeout = chat["Timeout"].as_u64().expect("a fixed timeout");
    let lease = chat["Environment"]["Variables"]["IDEMPOTENCY_LEASE_SECONDS"].as_u64().expect("a lease");
    assert!(lease > timeout, "lease {lease} s, timeout {timeout} s");
}
