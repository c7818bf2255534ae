"""The cold-start baseline for scripts/bench: the chat handler as a Python Lambda (the usual
alternative to a Rust one) would start. Like a typical boto3 handler, it imports boto3 and creates
its DynamoDB, KMS and Bedrock runtime clients at module import, then polls the Lambda Runtime API
for its first event.

A real Python Lambda also loads the runtime's own bootstrap (awslambdaric) before the handler
module, so this is a lower bound for what such a Lambda would pay.
"""

import json
import os
import urllib.request

import boto3

dynamodb = boto3.client("dynamodb")
kms = boto3.client("kms")
bedrock = boto3.client("bedrock-runtime")

RUNTIME = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime"


def handler(event, context):
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": "{}"}


while True:
    with urllib.request.urlopen(f"{RUNTIME}/invocation/next") as response:
        request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(response.read())
    answer = json.dumps(handler(event, None)).encode()
    urllib.request.urlopen(urllib.request.Request(f"{RUNTIME}/invocation/{request_id}/response", data=answer))
