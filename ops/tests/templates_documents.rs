//! The templates' part of the documents API: the bucket's CORS rule allows uploads from the
//! app's origin alone (derived from the function URL, in the stack that makes it), the chat role
//! may list, upload and delete under `docs/` and never read a document, and the ingest role may
//! write only the status records' partition of the conversations table.

mod cfn;

use cfn::{Statement, all_statements, list, parse, tag, untag};
use chatbot_core::aws::document_status::STATUS_PARTITION;
use opsctl::templates::{self, Template};
use serde_norway::Value;

fn doc(file: &str) -> Value {
    parse(&templates::all().into_iter().find(|t| t.file == file).unwrap_or_else(|| panic!("{file}")))
}

#[test]
fn the_documents_bucket_allows_presigned_puts_from_the_apps_origin_only() {
    let storage = doc("storage.yaml");
    let cors = untag(&storage["Resources"]["DocumentsBucket"]["Properties"]["CorsConfiguration"]);
    let branches = cors.as_sequence().expect("!If [HasAppOrigin, rules, NoValue]");
    assert_eq!(branches[0].as_str(), Some("HasAppOrigin"));
    assert_eq!(list(&branches[2]), ["AWS::NoValue"], "no origin, no rule");
    let rules = branches[1]["CorsRules"].as_sequence().unwrap();
    assert_eq!(rules.len(), 1);
    let rule = &rules[0];
    assert_eq!(list(&rule["AllowedOrigins"]), ["AppOrigin"], "one origin, a parameter, never *");
    assert_eq!(tag(&rule["AllowedOrigins"][0]), Some("!Ref"));
    assert_eq!(list(&rule["AllowedMethods"]), ["PUT"]);
    assert_eq!(list(&rule["AllowedHeaders"]), ["content-type"], "only the signed header a page sets");
    assert!(rule.get("ExposedHeaders").is_none());

    // The origin is the function URL less its trailing slash, handed from compute to storage.
    let compute = doc("compute.yaml");
    let origin = &compute["Outputs"]["AppOrigin"]["Value"];
    assert_eq!(tag(origin), Some("!Join"));
    // !Join ["", ["https://", !Select [2, !Split ["/", "https://<host>/"]]]]: the host.
    assert_eq!(list(origin), ["", "https://", "/", "ChatUrl.FunctionUrl"]);
    let select = &untag(origin)[1][1];
    assert_eq!(tag(select), Some("!Select"));
    assert_eq!(untag(select)[0].as_u64(), Some(2));
    let main = doc("main.yaml");
    let storage_params = &main["Resources"]["StorageStack"]["Properties"]["Parameters"];
    assert_eq!(list(&storage_params["AppOrigin"]), ["ComputeStack.Outputs.AppOrigin"]);
    // So compute may not wait on storage: it derives the names storage gives them.
    let compute_params = &main["Resources"]["ComputeStack"]["Properties"]["Parameters"];
    let mut names = Vec::new();
    cfn::strings(compute_params, &mut names);
    assert!(!names.iter().any(|s| s.contains("StorageStack")), "{names:?}");
    assert_eq!(list(&compute_params["TableName"]), ["chatbot-conversations-${Environment}"]);
    let bucket_name = storage["Resources"]["DocumentsBucket"]["Properties"]["BucketName"].clone();
    assert_eq!(list(&compute_params["DocumentsBucketName"]), list(&bucket_name));
}

fn statements(docs: &[(Template, Value)]) -> Vec<Statement<'_>> {
    all_statements(docs)
}

#[test]
fn the_chat_role_lists_uploads_and_deletes_documents_but_never_reads_one() {
    let docs: Vec<(Template, Value)> = templates::all().into_iter().map(|t| (t, parse(&t))).collect();
    let all = statements(&docs);
    let chat: Vec<&Statement<'_>> = all.iter().filter(|s| s.resource == "ChatRole").collect();
    let s3: Vec<&&Statement<'_>> =
        chat.iter().filter(|s| list(&s.body["Action"]).iter().any(|a| a.starts_with("s3:"))).collect();
    let bucket =
        "arn:${AWS::Partition}:s3:::chatbot-documents-${Environment}-${AWS::AccountId}-${AWS::Region}";
    let by_sid = |sid: &str| {
        s3.iter().find(|s| s.body["Sid"].as_str() == Some(sid)).unwrap_or_else(|| panic!("{sid}"))
    };
    let listing = by_sid("ListDocuments");
    assert_eq!(list(&listing.body["Action"]), ["s3:ListBucket"]);
    assert_eq!(list(&listing.body["Resource"]), [bucket]);
    assert_eq!(list(&listing.body["Condition"]["StringLike"]["s3:prefix"]), ["docs/*"]);
    let writes = by_sid("UploadAndDeleteDocuments");
    assert_eq!(list(&writes.body["Action"]), ["s3:PutObject", "s3:DeleteObject"]);
    assert_eq!(list(&writes.body["Resource"]), [format!("{bucket}/docs/*")]);
    assert_eq!(s3.len(), 2, "no other S3 statement on the chat role");
    assert!(
        !chat.iter().any(|s| list(&s.body["Action"]).iter().any(|a| a.starts_with("s3:Get"))),
        "the chat role never reads a document"
    );
    // A presigned upload runs with the role's permission: the bucket key's data key, via S3 only.
    let kms = chat.iter().find(|s| s.body["Sid"].as_str() == Some("EncryptUploadsThroughS3")).unwrap();
    assert_eq!(list(&kms.body["Action"]), ["kms:GenerateDataKey"]);
    assert_eq!(
        list(&kms.body["Condition"]["StringEquals"]["kms:ViaService"]),
        ["s3.${AWS::Region}.amazonaws.com"]
    );
    // Every one of them only with RAG on.
    let security = doc("security.yaml");
    let policy =
        &security["Resources"]["ChatRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"];
    for wrapped in policy.as_sequence().unwrap() {
        let Value::Tagged(t) = wrapped else { continue };
        let items = t.value.as_sequence().unwrap();
        let sid = items[1]["Sid"].as_str().unwrap();
        assert_eq!(items[0].as_str(), Some("IsRAGEnabled"), "{sid}");
    }
}

#[test]
fn the_ingest_role_writes_only_the_status_partition_and_its_function_knows_the_table() {
    let docs: Vec<(Template, Value)> = templates::all().into_iter().map(|t| (t, parse(&t))).collect();
    let all = statements(&docs);
    let dynamo: Vec<&Statement<'_>> = all
        .iter()
        .filter(|s| s.resource == "IngestRole" || s.resource.starts_with("Ingest"))
        .filter(|s| list(&s.body["Action"]).iter().any(|a| a.starts_with("dynamodb:")))
        .collect();
    assert_eq!(dynamo.len(), 1, "one table statement for ingestion");
    let s = dynamo[0];
    assert_eq!(s.body["Sid"].as_str(), Some("DocumentStatus"));
    assert_eq!(list(&s.body["Action"]), ["dynamodb:PutItem", "dynamodb:DeleteItem"]);
    let resources = list(&s.body["Resource"]);
    assert!(resources[0].ends_with(":table/chatbot-conversations-${Environment}"), "{resources:?}");
    let keys = list(&s.body["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"]);
    assert_eq!(keys, [STATUS_PARTITION], "the adapter's partition, and only it");

    let ai = doc("ai.yaml");
    let env = untag(&ai["Resources"]["IngestFunction"]["Properties"]["Environment"]);
    for variables in &env.as_sequence().unwrap()[1..] {
        assert_eq!(list(&variables["Variables"]["TABLE_NAME"]), ["TableName"]);
    }
    let compute = doc("compute.yaml");
    let chat = &compute["Resources"]["ChatFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(list(&chat["DOCUMENTS_BUCKET"]), ["IsRAGEnabled", "DocumentsBucketName", "AWS::NoValue"]);
}
