"""The chat Lambda binary under a local Lambda Runtime API, for scripts/bench.

1. Cold start: the time from just before the process is spawned to its first `next` poll, for
   the release `chat` binary (with its token read from SSM, and with AUTH_MODE=none, which makes
   no network call) and for python_handler.py, the Python baseline. The three run in
   turn, round after round, so that a burst of load on the machine hits them alike.
2. AWS calls per turn: the same binary, its AWS endpoint set to aws_proxy.py, answers a new
   conversation for ten turns; then a second process, cold, continues that conversation for five
   more. The proxy's counts are read around every turn.

Prints `cold_start …`, `cold_start_ratio …`, `aws_calls …` key=value lines.

    .venv/bin/python scripts/bench-tools/lambda_bench.py --chat PATH --moto URL --proxy URL [--runs N]
"""

import argparse
import json
import math
import os
import sys
import tempfile
import time
import urllib.request
from collections import Counter

sys.dont_write_bytecode = True  # leave no __pycache__ in the work tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import boto3  # noqa: E402 (after the path and bytecode settings)
from runtime_api import RuntimeApi  # noqa: E402

ENVIRONMENT = "bench"
TABLE = "chatbot-conversations-bench"
TOKEN_PARAMETER = "/chatbot/bench/api-token"
TOKEN = "bench-token-0123456789abcdef"
REGION = "us-east-1"
HANDLER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "python_handler.py")


def create_resources(moto: str) -> str:
    """The table, key and token parameter the chat Lambda's stack would give it; the key id."""
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    session.client("dynamodb", endpoint_url=moto).create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "conversation_id", "AttributeType": "S"},
            {"AttributeName": "timestamp", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "conversation_id", "KeyType": "HASH"},
            {"AttributeName": "timestamp", "KeyType": "RANGE"},
        ],
    )
    session.client("ssm", endpoint_url=moto).put_parameter(
        Name=TOKEN_PARAMETER, Value=TOKEN, Type="SecureString", Overwrite=True
    )
    return session.client("kms", endpoint_url=moto).create_key()["KeyMetadata"]["KeyId"]


def lambda_env(runtime_api: str, endpoint: str) -> dict[str, str]:
    """What Lambda sets for every function, with the emulator's dummy credentials."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "AWS_LAMBDA_RUNTIME_API": runtime_api,
        "AWS_LAMBDA_FUNCTION_NAME": "chatbot-chat-bench",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/chatbot-chat-bench",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_ENDPOINT_URL": endpoint,
    }


def chat_env(runtime_api: str, endpoint: str, key_id: str, auth: str) -> dict[str, str]:
    env = lambda_env(runtime_api, endpoint)
    env.update(CHATBOT_ENV=ENVIRONMENT, TABLE_NAME=TABLE, KMS_KEY_ID=key_id, API_TOKEN_PARAMETER=TOKEN_PARAMETER)
    env["AUTH_MODE"] = auth
    return env


def percentile(sorted_ms: list[float], p: float) -> float:
    """Nearest rank: the smallest sample with at least p of the samples at or below it."""
    return sorted_ms[max(0, math.ceil(p * len(sorted_ms)) - 1)]


def cold_starts(api: RuntimeApi, args, key_id: str, logs: str) -> None:
    variants = [
        ("rust_token", [args.chat], chat_env(api.address, args.moto, key_id, "token")),
        ("rust_none", [args.chat], chat_env(api.address, args.moto, key_id, "none")),
        ("python", [sys.executable, HANDLER], lambda_env(api.address, args.moto)),
    ]
    samples: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    for round_ in range(args.warmup + args.runs):
        # Each round starts with the next variant, so none always runs right after another.
        shift = round_ % len(variants)
        for name, command, env in variants[shift:] + variants[:shift]:
            process, ms = api.start(command, env, os.path.join(logs, f"{name}.log"))
            api.stop(process)
            if round_ >= args.warmup:
                samples[name].append(ms)
    for name, ms in samples.items():
        ms.sort()
        print(
            f"cold_start variant={name} runs={len(ms)} min_ms={ms[0]:.1f} p50_ms={percentile(ms, 0.5):.1f} "
            f"p90_ms={percentile(ms, 0.9):.1f} max_ms={ms[-1]:.1f} mean_ms={sum(ms) / len(ms):.1f}"
        )
    python_p50 = percentile(samples["python"], 0.5)
    for rust in ("rust_token", "rust_none"):
        print(f"cold_start_ratio rust={rust} python_over_rust_p50={python_p50 / percentile(samples[rust], 0.5):.1f}")


def counts(proxy: str) -> Counter:
    with urllib.request.urlopen(f"{proxy}/__bench/counts") as response:
        return Counter(json.loads(response.read()))


def chat_event(message: str, conversation_id: str | None) -> dict:
    """A `POST /chat` as a function URL (payload 2.0) hands it to the function."""
    body = {"message": message}
    if conversation_id:
        body["conversation_id"] = conversation_id
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/chat",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"},
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "bench",
            "domainName": "bench.lambda-url.us-east-1.on.aws",
            "domainPrefix": "bench",
            "http": {
                "method": "POST",
                "path": "/chat",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "bench",
            },
            "requestId": f"bench-{now}",
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def turn(api: RuntimeApi, proxy: str, message: str, conversation_id: str | None) -> tuple[str, Counter]:
    before = counts(proxy)
    answer = api.invoke(chat_event(message, conversation_id))
    calls = counts(proxy) - before
    if answer.get("statusCode") != 200:
        raise RuntimeError(f"the chat turn failed: {json.dumps(answer)[:2000]}")
    return json.loads(answer["body"])["conversation_id"], calls


def row(phase: str, per_turn: list[Counter]) -> str:
    """One line for a phase: each service's calls per turn, as `n` or `min-max` when turns differ."""

    def spread(values: list[int]) -> str:
        return str(values[0]) if min(values) == max(values) else f"{min(values)}-{max(values)}"

    services = {"kms": 0, "dynamodb": 0, "ssm": 0, "bedrock": 0}
    figures = {s: spread([sum(n for op, n in c.items() if op.split(".")[0] == s) for c in per_turn]) for s in services}
    operations = sorted({op for c in per_turn for op in c})
    detail = ",".join(f"{op}:{spread([c.get(op, 0) for c in per_turn])}" for op in operations) or "none"
    return (
        f"aws_calls phase={phase} turns={len(per_turn)} kms={figures['kms']} dynamodb={figures['dynamodb']} "
        f"ssm={figures['ssm']} bedrock={figures['bedrock']} calls={detail.replace(' ', '_')}"
    )


def calls_per_turn(api: RuntimeApi, args, key_id: str, logs: str) -> None:
    env = chat_env(api.address, args.proxy, key_id, "token")
    conversation = None
    for instance, turns in ((1, 10), (2, 5)):
        before = counts(args.proxy)
        process, _ = api.start([args.chat], env, os.path.join(logs, f"calls-{instance}.log"))
        try:
            init = counts(args.proxy) - before
            warm = []
            for n in range(turns):
                conversation, calls = turn(api, args.proxy, f"turn {n} of instance {instance}: noted?", conversation)
                if n == 0:
                    first = calls
                else:
                    warm.append(calls)
        finally:
            api.stop(process)
        cold = "cold_turn_new_conversation" if instance == 1 else "cold_turn_existing_conversation"
        print(row(f"init_{instance}", [init]))
        print(row(cold, [first]))
        print(row(f"warm_turns_{instance}", warm))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chat", required=True, help="the release chat binary")
    parser.add_argument("--moto", required=True, help="the moto server's URL")
    parser.add_argument("--proxy", required=True, help="aws_proxy.py's URL, in front of that server")
    parser.add_argument("--runs", type=int, default=25, help="measured cold starts of each kind")
    parser.add_argument("--warmup", type=int, default=2, help="rounds run first and not counted")
    args = parser.parse_args()

    key_id = create_resources(args.moto)
    api = RuntimeApi()
    with tempfile.TemporaryDirectory(prefix="opsctl-bench-lambda-") as logs:
        try:
            cold_starts(api, args, key_id, logs)
            calls_per_turn(api, args, key_id, logs)
        except RuntimeError as e:
            sys.exit(f"lambda_bench: {e}")
        finally:
            api.close()
    print(f"cold_start_python version={sys.version.split()[0]} boto3={boto3.__version__}")


if __name__ == "__main__":
    main()
