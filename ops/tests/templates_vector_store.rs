//! The RAG stack's vector store, as the templates define it for each `VectorStore`: what checkov
//! has no checks for (S3 Vectors' types) or cannot read (resources under a condition). The bucket
//! is encrypted with the project key, no policy opens anything to everyone, each function reaches
//! exactly the indexes and calls it needs, and each store exists only when it is chosen.

mod cfn;

use std::collections::BTreeSet;

use cfn::{Params, Statement, all_statements, exists, list, parse, resolved, resources, tag, untag};
use opsctl::templates::{self, Template};
use serde_norway::Value;

const STORES: [&str; 2] = ["s3vectors", "opensearch"];

fn template(file: &str) -> Value {
    let t = templates::all().into_iter().find(|t| t.file == file).unwrap_or_else(|| panic!("no {file}"));
    parse(&t)
}

/// The ai stack's parameters that its conditions read, for `store`.
fn ai_params(store: &str) -> Vec<(&str, &str)> {
    vec![("VectorStore", store), ("Environment", "dev"), ("SerializeIngestion", "true")]
}

/// The resource types the ai stack creates for `store`.
fn types_with(ai: &Value, store: &str) -> BTreeSet<String> {
    let params = ai_params(store);
    resources(ai)
        .into_iter()
        .filter(|(_, r)| exists(ai, r, &params))
        .map(|(_, r)| r["Type"].as_str().unwrap().to_owned())
        .collect()
}

/// The statements of every policy the ai stack creates for `store`, with `!If` resolved.
fn ai_statements(ai: &Value, store: &str) -> Vec<(String, Value)> {
    let params = ai_params(store);
    let mut out = Vec::new();
    for (id, r) in resources(ai).into_iter().filter(|(_, r)| exists(ai, r, &params)) {
        let Some(doc) = r["Properties"].get("PolicyDocument") else { continue };
        let doc = resolved(ai, doc, &params).expect("a policy document");
        for s in untag(&doc["Statement"]).as_sequence().into_iter().flatten() {
            out.push((id.clone(), s.clone()));
        }
    }
    out
}

/// The ai stack's policy resources attached to `role` (a parameter: IngestRoleName, ...).
fn attached_to<'a>(ai: &'a Value, role: &str) -> Vec<(String, &'a Value)> {
    resources(ai)
        .into_iter()
        .filter(|(_, r)| {
            r["Type"].as_str() == Some("AWS::IAM::Policy") && list(&r["Properties"]["Roles"]) == [role]
        })
        .collect()
}

fn actions(statement: &Value) -> Vec<String> {
    list(&statement["Action"])
}

// ---------------------------------------------------------------------------------------------

#[test]
fn s3vectors_is_the_default_and_each_stack_is_told_the_store() {
    let main = parse(&templates::MAIN);
    let p = &main["Parameters"]["VectorStore"];
    assert_eq!(p["Default"].as_str(), Some("s3vectors"), "no minimum charge unless asked for");
    assert_eq!(list(&p["AllowedValues"]), STORES);
    let description = p["Description"].as_str().unwrap();
    assert!(description.contains("no minimum charge") && description.contains("$175"), "{description}");
    // OpenSearch's idle floor is the opensearch store's, not RAG's.
    let rag = main["Parameters"]["EnableRAG"]["Description"].as_str().unwrap();
    assert!(!rag.contains("$175"), "EnableRAG claims OpenSearch's floor: {rag}");
    let passed = list(&main["Resources"]["AiStack"]["Properties"]["Parameters"]["VectorStore"]);
    assert_eq!(passed, ["VectorStore"]);
    assert_eq!(list(&template("ai.yaml")["Parameters"]["VectorStore"]["AllowedValues"]), STORES);
}

#[test]
fn with_s3vectors_no_opensearch_resource_exists_and_with_opensearch_no_s3_vectors_one() {
    let ai = template("ai.yaml");
    let s3vectors = types_with(&ai, "s3vectors");
    let opensearch = types_with(&ai, "opensearch");
    assert!(
        s3vectors.contains("AWS::S3Vectors::VectorBucket") && s3vectors.contains("AWS::S3Vectors::Index")
    );
    assert!(opensearch.contains("AWS::OpenSearchServerless::Collection"));
    assert!(!s3vectors.iter().any(|t| t.starts_with("AWS::OpenSearchServerless::")), "{s3vectors:?}");
    assert!(!opensearch.iter().any(|t| t.starts_with("AWS::S3Vectors::")), "{opensearch:?}");
    // Nor does any policy of the other store's service.
    for (store, other) in [("s3vectors", "aoss:"), ("opensearch", "s3vectors:")] {
        for (id, s) in ai_statements(&ai, store) {
            assert!(!actions(&s).iter().any(|a| a.starts_with(other)), "{store}: {id} allows {other}*");
        }
    }
}

#[test]
fn the_vector_bucket_is_sse_kms_with_the_stacks_key() {
    let ai = template("ai.yaml");
    let bucket = &ai["Resources"]["VectorBucket"]["Properties"];
    assert_eq!(untag(&bucket["VectorBucketName"]).as_str(), Some("chatbot-vectors-${Environment}"));
    let encryption = &bucket["EncryptionConfiguration"];
    assert_eq!(encryption["SseType"].as_str(), Some("aws:kms"));
    assert_eq!(tag(&encryption["KmsKeyArn"]), Some("!Ref"));
    assert_eq!(list(&encryption["KmsKeyArn"]), ["KeyArn"]);
    // KeyArn is the security stack's key, the one that encrypts everything else.
    let main = parse(&templates::MAIN);
    let passed = list(&main["Resources"]["AiStack"]["Properties"]["Parameters"]["KeyArn"]);
    assert_eq!(passed, ["SecurityStack.Outputs.KeyArn"]);
    let security = template("security.yaml");
    assert_eq!(list(&security["Outputs"]["KeyArn"]["Value"]), ["Key.Arn"]);
    // The indexes inherit the bucket's encryption: none overrides it.
    for (id, r) in resources(&ai) {
        if r["Type"].as_str() == Some("AWS::S3Vectors::Index") {
            assert!(
                r["Properties"].get("EncryptionConfiguration").is_none(),
                "{id} overrides the bucket's key"
            );
            assert_eq!(list(&r["Properties"]["VectorBucketArn"]), ["VectorBucket.VectorBucketArn"], "{id}");
        }
    }
}

#[test]
fn the_indexes_match_the_embeddings_and_keep_large_fields_unfilterable() {
    let ai = template("ai.yaml");
    let chunks = &ai["Resources"]["ChunksIndex"]["Properties"];
    assert_eq!(chunks["IndexName"].as_str(), Some("chunks"));
    assert_eq!(list(&chunks["Dimension"]), ["EmbeddingDimensions"]);
    assert_eq!(tag(&chunks["Dimension"]), Some("!Ref"));
    assert_eq!(chunks["DistanceMetric"].as_str(), Some("cosine"));
    assert_eq!(chunks["DataType"].as_str(), Some("float32"));
    assert_eq!(
        list(&chunks["MetadataConfiguration"]["NonFilterableMetadataKeys"]),
        ["text", "title", "source"]
    );
    let manifests = &ai["Resources"]["ManifestsIndex"]["Properties"];
    assert_eq!(manifests["IndexName"].as_str(), Some("manifests"));
    assert_eq!(manifests["Dimension"].as_u64(), Some(1));
    assert_eq!(manifests["DistanceMetric"].as_str(), Some("euclidean"));
    assert_eq!(manifests["DataType"].as_str(), Some("float32"));
    assert_eq!(list(&manifests["MetadataConfiguration"]["NonFilterableMetadataKeys"]), ["manifest"]);
    // The dimensions are the embedding model's, as the root stack is given them.
    let main = parse(&templates::MAIN);
    let passed = list(&main["Resources"]["AiStack"]["Properties"]["Parameters"]["EmbeddingDimensions"]);
    assert_eq!(passed, ["EmbeddingDimensions"]);
}

/// The principals of an Allow statement that would let anyone in: `"*"` or `{AWS: "*"}`.
fn open_to_everyone(s: &Value) -> bool {
    let principal = &s["Principal"];
    let everyone = |v: &Value| list(v).iter().any(|p| p == "*");
    s["Effect"].as_str() == Some("Allow")
        && (principal.as_str() == Some("*") || everyone(&principal["AWS"]) || s.get("NotPrincipal").is_some())
}

#[test]
fn no_policy_grants_to_everyone() {
    let docs: Vec<(Template, Value)> = templates::all().into_iter().map(|t| (t, parse(&t))).collect();
    let statements = all_statements(&docs);
    let mut resource_policies = 0;
    for Statement { file, resource, body, .. } in &statements {
        if body.get("Principal").is_some() {
            resource_policies += 1;
        }
        assert!(!open_to_everyone(body), "{file}: {resource} allows everyone: {body:?}");
        // Identity policies on S3 Vectors name index ARNs, never a wildcard.
        if actions(body).iter().any(|a| a.starts_with("s3vectors:")) {
            for r in list(&body["Resource"]) {
                assert!(!r.contains('*') && r.ends_with("Index.IndexArn"), "{file}: {resource} on {r}");
            }
        }
    }
    assert!(resource_policies >= 5, "found {resource_policies} resource-policy statements");
    // The vector bucket has no resource policy at all: IAM alone decides who reaches it.
    for (t, doc) in &docs {
        for (id, r) in resources(doc) {
            assert_ne!(r["Type"].as_str(), Some("AWS::S3Vectors::VectorBucketPolicy"), "{}: {id}", t.file);
        }
    }
}

#[test]
fn retrieve_only_reads_the_chunks_and_ingest_has_exactly_its_four_calls_on_both_indexes() {
    let ai = template("ai.yaml");
    let s3vectors = ai_statements(&ai, "s3vectors");
    let by_role = |role: &str| -> Vec<Value> {
        let ids: Vec<String> = attached_to(&ai, role).into_iter().map(|(id, _)| id).collect();
        s3vectors.iter().filter(|(id, _)| ids.contains(id)).map(|(_, s)| s.clone()).collect()
    };
    let vector_calls = |statements: &[Value]| -> Vec<(Vec<String>, Vec<String>)> {
        let vectors = statements.iter().filter(|s| actions(s).iter().any(|a| a.starts_with("s3vectors:")));
        vectors.map(|s| (actions(s), list(&s["Resource"]))).collect()
    };

    let retrieve = by_role("RetrieveRoleName");
    assert_eq!(
        vector_calls(&retrieve),
        [(
            vec!["s3vectors:QueryVectors".to_owned(), "s3vectors:GetVectors".to_owned()],
            vec!["ChunksIndex.IndexArn".to_owned()]
        )]
    );
    for s in &retrieve {
        for a in actions(s) {
            let verb = a.split_once(':').map_or(a.as_str(), |(_, v)| v);
            let writes = ["Put", "Delete", "Create", "Update", "Encrypt", "GenerateDataKey"];
            assert!(!writes.iter().any(|w| verb.starts_with(w)), "retrieve may {a}");
        }
    }

    let ingest = by_role("IngestRoleName");
    let four = ["PutVectors", "DeleteVectors", "ListVectors", "GetVectors"].map(|c| format!("s3vectors:{c}"));
    let both = vec!["ChunksIndex.IndexArn".to_owned(), "ManifestsIndex.IndexArn".to_owned()];
    assert_eq!(vector_calls(&ingest), [(four.to_vec(), both)]);

    // Decrypting through S3 Vectors only, only with this bucket's encryption context.
    for (role, arns) in [
        ("RetrieveRoleName", vec!["VectorBucket.VectorBucketArn", "ChunksIndex.IndexArn"]),
        (
            "IngestRoleName",
            vec!["VectorBucket.VectorBucketArn", "ChunksIndex.IndexArn", "ManifestsIndex.IndexArn"],
        ),
    ] {
        let keys: Vec<Value> =
            by_role(role).into_iter().filter(|s| s["Sid"].as_str() == Some("VectorEncryption")).collect();
        assert_eq!(keys.len(), 1, "{role}");
        let s = &keys[0];
        assert_eq!(actions(s), ["kms:Decrypt"], "{role}");
        assert_eq!(list(&s["Resource"]), ["KeyArn"], "{role}");
        let equals = &s["Condition"]["StringEquals"];
        assert_eq!(list(&equals["kms:ViaService"]), ["s3vectors.${AWS::Region}.amazonaws.com"], "{role}");
        assert_eq!(list(&equals["kms:EncryptionContext:aws:s3vectors:arn"]), arns, "{role}");
    }
}

/// The key's S3 Vectors statements are there whatever the store, as its SQS grant is: they are
/// what lets S3 Vectors use the key at all, and each is scoped to the vector bucket the RAG stack
/// makes, and only with S3 Vectors: so they must name nothing else.
#[test]
fn the_key_lets_s3_vectors_index_only_this_environments_bucket() {
    let security = template("security.yaml");
    let statements = untag(&security["Resources"]["Key"]["Properties"]["KeyPolicy"]["Statement"]);
    let statements = statements.as_sequence().unwrap();
    let find = |sid: &str| statements.iter().find(|s| s["Sid"].as_str() == Some(sid)).expect(sid);
    let context_keys = ["aws:s3vectors:arn", "aws:s3vectors:resource-id"];

    let indexing = find("S3VectorsIndexesTheProjectsVectorBucket");
    assert_eq!(list(&indexing["Principal"]["Service"]), ["indexing.s3vectors.amazonaws.com"]);
    assert_eq!(actions(indexing), ["kms:Decrypt"]);
    let condition = &indexing["Condition"];
    assert_eq!(list(&condition["StringEquals"]["aws:SourceAccount"]), ["AWS::AccountId"]);
    let bucket = "arn:${AWS::Partition}:s3vectors:${AWS::Region}:${AWS::AccountId}:bucket/chatbot-vectors-${Environment}";
    assert_eq!(
        list(&condition["ArnLike"]["aws:SourceArn"]),
        [bucket.to_owned(), format!("{bucket}/index/*")]
    );
    assert_eq!(list(&condition["ForAnyValue:StringEquals"]["kms:EncryptionContextKeys"]), context_keys);
    // The bucket it names is the one the RAG stack makes.
    let ai = template("ai.yaml");
    let made = untag(&ai["Resources"]["VectorBucket"]["Properties"]["VectorBucketName"]).as_str().unwrap();
    assert!(bucket.ends_with(&format!(":bucket/{made}")), "{made}");
    // Nothing else in the key policy mentions S3 Vectors.
    let others = statements.iter().filter(|s| {
        let sid = s["Sid"].as_str().unwrap_or_default();
        sid != "S3VectorsIndexesTheProjectsVectorBucket" && sid != "VectorStoreOnBehalfOfTheAccount"
    });
    for s in others {
        assert!(!list(s).iter().any(|v| v.contains("s3vectors")), "{s:?}");
    }

    let account = find("VectorStoreOnBehalfOfTheAccount");
    assert_eq!(actions(account), ["kms:GenerateDataKey", "kms:Decrypt"]);
    let condition = &account["Condition"];
    assert_eq!(
        list(&condition["StringEquals"]["kms:ViaService"]),
        ["s3vectors.${AWS::Region}.amazonaws.com"]
    );
    assert_eq!(list(&condition["StringEquals"]["kms:CallerAccount"]), ["AWS::AccountId"]);
    assert_eq!(list(&condition["ForAnyValue:StringEquals"]["kms:EncryptionContextKeys"]), context_keys);
}

#[test]
fn the_functions_are_told_their_store_and_nothing_of_the_other() {
    let ai = template("ai.yaml");
    for store in STORES {
        let params = ai_params(store);
        for function in ["IngestFunction", "RetrieveFunction"] {
            let env = &ai["Resources"][function]["Properties"]["Environment"];
            let env = resolved(&ai, env, &params).unwrap();
            let vars = env["Variables"].as_mapping().unwrap();
            let var = |k: &str| vars.get(k).map(|v| list(v).join(""));
            assert_eq!(var("VECTOR_STORE").as_deref(), Some(store), "{function}");
            assert_eq!(var("INDEX_NAME").as_deref(), Some("chunks"), "{function}");
            let s3vectors = store == "s3vectors";
            let bucket = s3vectors.then(|| "chatbot-vectors-${Environment}".to_owned());
            assert_eq!(var("VECTOR_BUCKET"), bucket, "{function} with {store}");
            assert_eq!(var("MANIFEST_INDEX_NAME"), s3vectors.then(|| "manifests".to_owned()), "{function}");
            assert_eq!(var("COLLECTION_ENDPOINT").is_some(), !s3vectors, "{function} with {store}");
        }
    }
}

#[test]
fn the_outputs_name_the_store_and_exist_with_it() {
    let ai = template("ai.yaml");
    let main = parse(&templates::MAIN);
    let s3vectors_outputs = ["VectorBucketName", "ChunksIndexArn", "ManifestsIndexArn"];
    let opensearch_outputs = ["CollectionName", "CollectionEndpoint"];
    for store in STORES {
        let with: BTreeSet<&str> = ai["Outputs"]
            .as_mapping()
            .unwrap()
            .iter()
            .filter(|(_, o)| exists(&ai, o, &ai_params(store)))
            .map(|(k, _)| k.as_str().unwrap())
            .collect();
        assert!(with.contains("VectorStore"), "{store}");
        let (mine, other): (&[&str], &[&str]) = if store == "s3vectors" {
            (&s3vectors_outputs, &opensearch_outputs)
        } else {
            (&opensearch_outputs, &s3vectors_outputs)
        };
        assert!(mine.iter().all(|o| with.contains(o)), "{store}: {with:?}");
        assert!(!other.iter().any(|o| with.contains(o)), "{store}: {with:?}");
    }
    assert_eq!(list(&ai["Outputs"]["VectorStore"]["Value"]), ["VectorStore"]);
    // The root stack passes them through, each only when the ai stack has it.
    for rag in ["true", "false"] {
        for store in STORES {
            let params: &Params<'_> = &[("EnableRAG", rag), ("VectorStore", store), ("Environment", "dev")];
            for name in ["VectorStore"].iter().chain(&s3vectors_outputs).chain(&["CollectionEndpoint"]) {
                let output = &main["Outputs"][*name];
                assert_eq!(list(&output["Value"]), [format!("AiStack.Outputs.{name}")], "{name}");
                let from_ai = rag == "true" && exists(&ai, &ai["Outputs"][*name], &ai_params(store));
                assert_eq!(exists(&main, output, params), from_ai, "{name} with EnableRAG={rag} {store}");
            }
        }
    }
}
