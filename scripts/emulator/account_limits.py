"""The account limits `opsctl doctor` reads, which moto 5.2.5 lacks: Lambda's GetAccountSettings
and Service Quotas' ListServiceQuotas (moto has only ListAWSDefaultServiceQuotas, for vpc).

Like moto_patches.py, each patch says what AWS does and what moto does; they replace or add moto
internals by name, for moto 5.2.5 only (serve.py checks the version). The quota values are the
emulator's, not any real account's.
"""

import hashlib
import json
import os
from typing import Any

from moto.awslambda import urls as lambda_urls
from moto.awslambda.responses import LambdaResponse
from moto.servicequotas.exceptions import NoSuchResource
from moto.servicequotas.responses import ServiceQuotasResponse

# moto's own knob for the account's Lambda concurrency (its PutFunctionConcurrency honours it).
_CONCURRENCY_ENV = "MOTO_LAMBDA_CONCURRENCY_QUOTA"
_DEFAULT_CONCURRENCY = 1000  # AWS's default for an established account

# Token quotas of the templates' default models, named as Service Quotas names them.
_BEDROCK_TOKEN_QUOTAS = [
    ("Cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4.6", 200_000.0),
    ("Global cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4.6", 400_000.0),
    ("On-demand InvokeModel tokens per minute for Amazon Titan Text Embeddings V2", 300_000.0),
]


def _concurrency_limit() -> int:
    return int(os.environ.get(_CONCURRENCY_ENV, _DEFAULT_CONCURRENCY))


def get_account_settings(self: LambdaResponse) -> str:
    # AWS: GET /2016-08-19/account-settings/ answers the account's limits (ConcurrentExecutions,
    # and what is left unreserved) and usage. moto: no route and no method (a 404).
    # Patch: the limit moto's PutFunctionConcurrency enforces, less the functions' reservations.
    functions = list(self.backend.list_functions())
    reserved = sum(int(fn.reserved_concurrency or 0) for fn in functions)
    limit = _concurrency_limit()
    return json.dumps({
        "AccountLimit": {
            "TotalCodeSize": 80_530_636_800,
            "CodeSizeUnzipped": 262_144_000,
            "CodeSizeZipped": 52_428_800,
            "ConcurrentExecutions": limit,
            "UnreservedConcurrentExecutions": limit - reserved,
        },
        "AccountUsage": {
            "TotalCodeSize": sum(int(getattr(fn, "code_size", 0) or 0) for fn in functions),
            "FunctionCount": len(functions),
        },
    })


def _quota(service_code: str, service_name: str, region: str, account: str, name: str, value: float) -> dict:
    code = "L-" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:8].upper()
    return {
        "ServiceCode": service_code,
        "ServiceName": service_name,
        "QuotaArn": f"arn:aws:servicequotas:{region}:{account}:{service_code}/{code}",
        "QuotaCode": code,
        "QuotaName": name,
        "Value": value,
        "Unit": "None",
        "Adjustable": True,
        "GlobalQuota": False,
        "QuotaAppliedAtLevel": "ACCOUNT",
    }


def list_service_quotas(self: ServiceQuotasResponse) -> str:
    # AWS: ListServiceQuotas lists a service's quotas with the account's applied values.
    # moto: not implemented (a 500). Patch: Bedrock's token quotas of the default models and
    # Lambda's concurrent executions; another service is NoSuchResourceException, as moto's
    # ListAWSDefaultServiceQuotas answers for what it does not model. One page, no NextToken.
    service_code = str(json.loads(self.body or "{}").get("ServiceCode"))
    region, account = self.region, self.current_account
    if service_code == "bedrock":
        rows = [_quota("bedrock", "Amazon Bedrock", region, account, n, v) for n, v in _BEDROCK_TOKEN_QUOTAS]
    elif service_code == "lambda":
        rows = [_quota("lambda", "AWS Lambda", region, account, "Concurrent executions", float(_concurrency_limit()))]
    else:
        raise NoSuchResource
    return json.dumps({"Quotas": rows})


def apply() -> None:
    lambda_urls.url_paths[r"{0}/(?P<api_version>[^/]+)/account-settings/?$"] = LambdaResponse.dispatch
    LambdaResponse.get_account_settings = get_account_settings
    ServiceQuotasResponse.list_service_quotas = list_service_quotas
