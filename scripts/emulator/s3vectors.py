"""S3 Vectors as AWS serves it, over moto 5.2.5's s3vectors: QueryVectors, which moto lacks; the
limits, pagination and index settings moto does not enforce or keep.

Like moto_patches.py, each patch says what AWS does, what moto 5.2.5 does and what the patch
changes; they replace moto internals by name, for moto 5.2.5 only (serve.py checks the version).
The numbers come from the S3 User Guide's "Limitations and restrictions" page, the bounds of each
member from botocore's s3vectors model (service-2.json, the model the SDKs are generated from),
the error wording from what the service answers where that is known; where it is not, the
comment says the wording is the emulator's.
"""

import contextlib
import heapq
import json
import math
import operator
import re
import threading
import uuid
import zlib
from array import array
from datetime import datetime, timezone
from typing import Any

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, EmptyResult
from moto.s3vectors import urls
from moto.s3vectors.exceptions import ValidationError
from moto.s3vectors.models import Index, S3VectorsBackend, Vector, VectorBucket
from moto.s3vectors.responses import S3VectorsResponse

# "Limitations and restrictions" and the model's list bounds (PutVectorsInputList 1..500, ...).
MAX_PUT_VECTORS = 500
MAX_GET_KEYS = 100
MAX_DELETE_KEYS = 500
MAX_KEY_LENGTH = 1024  # VectorKey 1..1024 characters
MAX_DIMENSION = 4096  # Dimension 1..4096, inclusive
MAX_METADATA_BYTES = 40 * 1024  # total metadata per vector, filterable + non-filterable
MAX_FILTERABLE_BYTES = 2048  # filterable metadata per vector
MAX_METADATA_KEYS = 50  # metadata keys per vector
MAX_NON_FILTERABLE_KEYS = 10  # NonFilterableMetadataKeys 0..10, each MetadataKey 1..63
MAX_REQUEST_BYTES = 20 * 1024 * 1024  # request payload
# topK was 30 in preview and 100 at general availability; since June 2026 it is up to 10,000,
# returned in pages linked by nextToken (QueryVectors' nextToken in the model). AWS does not
# document the page size: the emulator pages by the old maximum, 100.
MAX_TOP_K = 10_000
QUERY_PAGE = 100
LIST_DEFAULT, LIST_MAX = 500, 1000  # ListVectorsMaxResults 1..1000, default 500
LIST_PAGE_BYTES = 1024 * 1024  # a ListVectors page stops once it has read 1 MB
MAX_SEGMENTS = 16  # ListVectorsSegmentCount 1..16
_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class Conflict(ServiceException):
    code = "ConflictException"


def _invalid(problems: list[tuple[str, str]]) -> ValidationError:
    """AWS's ValidationException for model constraints: a count, each problem, and fieldList."""
    count = len(problems)
    text = "; ".join(message for _, message in problems)
    error = ValidationError(f"{count} validation error{'s' if count > 1 else ''} detected. {text}")
    error.fieldList = [{"path": path, "message": message} for path, message in problems]
    return error


def _length(path: str, value: Any, low: int, high: int | None) -> list[tuple[str, str]]:
    if value is None or low <= len(value) <= (high if high is not None else len(value)):
        return []
    bound = f"between {low} and {high}, inclusive" if high is not None else f"greater than or equal to {low}"
    return [(path, f"Value with length {len(value)} at '{path}' failed to satisfy constraint: "
                   f"Member must have length {bound}")]


def _range(path: str, value: Any, low: int, high: int) -> list[tuple[str, str]]:
    if value is None or low <= value <= high:
        return []
    return [(path, f"Value at '{path}' failed to satisfy constraint: "
                   f"Member must be between {low} and {high}, inclusive")]


def _enum(path: str, value: Any, allowed: list[str]) -> list[tuple[str, str]]:
    if value is None or value in allowed:
        return []
    return [(path, f"Value at '{path}' failed to satisfy constraint: "
                   f"Member must satisfy enum value set: [{', '.join(allowed)}]")]


def _required(path: str, value: Any) -> list[tuple[str, str]]:
    if value is not None:
        return []
    return [(path, f"Value null at '{path}' failed to satisfy constraint: Member must not be null")]


def _raise_if(problems: list[tuple[str, str]]) -> None:
    if problems:
        raise _invalid(problems)


def _json_bytes(value: Any) -> int:
    """The size the emulator counts for metadata: its compact JSON, in UTF-8 bytes. AWS does not
    document how it measures; this counts every key, value, quote and separator."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")) if value else 0


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


# --- Buckets and indexes -------------------------------------------------------------------

_create_vector_bucket = S3VectorsBackend.create_vector_bucket


def backend_create_vector_bucket(self: S3VectorsBackend, region: str, vector_bucket_name: str,
                                 encryption_configuration: dict, tags: dict | None = None) -> VectorBucket:
    # AWS: a vector bucket has a creationTime (GetVectorBucket, ListVectorBuckets require it) and
    # CreateVectorBucket answers its vectorBucketArn. moto: keeps no time and answers nothing.
    # Patch: stamp the time and return the bucket, for the response and the CloudFormation model.
    _create_vector_bucket(self, region, vector_bucket_name, encryption_configuration, tags)
    bucket = self.get_vector_bucket(vector_bucket_name=vector_bucket_name)
    bucket.creation_time = _now()
    return bucket


def backend_create_index(self: S3VectorsBackend, vector_bucket_name: str | None, vector_bucket_arn: str | None,
                         index_name: str, data_type: str, dimension: int, distance_metric: str,
                         metadata_configuration: dict | None = None, encryption_configuration: dict | None = None,
                         tags: dict | None = None) -> Index:
    # AWS: CreateIndex keeps metadataConfiguration (the non-filterable keys) and the index's
    # encryptionConfiguration (by default the bucket's), stamps creationTime, answers indexArn,
    # and refuses a second index of the same name with ConflictException.
    # moto: drops both configurations, keeps no time, answers nothing, and silently replaces an
    # index of the same name, vectors and all. Patch: all of what AWS does.
    bucket = self.get_vector_bucket(vector_bucket_name=vector_bucket_name, vector_bucket_arn=vector_bucket_arn)
    if any(index.index_name == index_name for index in bucket.indexes.values()):
        raise Conflict("An index with the specified name already exists")
    index = Index(bucket=bucket, name=index_name, dimension=dimension, data_type=data_type,
                  distance_metric=distance_metric)
    index.metadata_configuration = None if metadata_configuration is None else {
        "nonFilterableMetadataKeys": list(metadata_configuration.get("nonFilterableMetadataKeys") or [])}
    index.encryption_configuration = encryption_configuration or dict(bucket.encryption_configuration)
    index.creation_time = _now()
    bucket.indexes[index.index_arn] = index
    if tags:
        self.tag_resource(index.index_arn, tags)
    return index


def _encryption_problems(config: dict | None) -> list[tuple[str, str]]:
    if not config:
        return []
    path = "/encryptionConfiguration"
    problems = _enum(f"{path}/sseType", config.get("sseType"), ["AES256", "aws:kms"])
    problems += _length(f"{path}/kmsKeyArn", config.get("kmsKeyArn"), 1, 2048)
    if problems:
        return problems
    if config.get("kmsKeyArn") and config.get("sseType") != "aws:kms":
        return [(f"{path}/kmsKeyArn", "kmsKeyArn is allowed only when sseType is aws:kms")]
    if config.get("sseType") == "aws:kms" and not config.get("kmsKeyArn"):
        return [(f"{path}/kmsKeyArn", "kmsKeyArn is required when sseType is aws:kms")]
    return []


def check_vector_bucket(name: str | None, encryption: dict | None) -> None:
    _raise_if(_required("/vectorBucketName", name) + _length("/vectorBucketName", name, 3, 63)
              + _encryption_problems(encryption))
    if not _NAME.match(name):
        raise ValidationError("Invalid vector bucket name")


def create_vector_bucket(self: S3VectorsResponse) -> ActionResult:
    # AWS: validates the name (3..63) and the encryption configuration (a KMS key ARN if and only
    # if sseType is aws:kms) and answers {"vectorBucketArn"}. moto: checks the name only and
    # answers {}. Patch: both checks and the ARN.
    name, encryption = self._get_param("vectorBucketName"), self._get_param("encryptionConfiguration")
    check_vector_bucket(name, encryption)
    tags = self._get_param("tags")
    bucket = backend_create_vector_bucket(self.s3vectors_backend, self.region, name, encryption, tags)
    return ActionResult({"vectorBucketArn": bucket.vector_bucket_arn})


def check_index(params: dict) -> None:
    """CreateIndex's checks, for the API and the CloudFormation model alike: the model's bounds
    (dimension 1..4096 inclusive, at most 10 non-filterable keys of 1..63 characters, the
    encryption rule), the bucket given by name or ARN, and the name rule."""
    p = params.get
    keys = (p("metadataConfiguration") or {}).get("nonFilterableMetadataKeys")
    _raise_if(_required("/indexName", p("indexName")) + _length("/indexName", p("indexName"), 3, 63)
              + _required("/dataType", p("dataType")) + _enum("/dataType", p("dataType"), ["float32"])
              + _required("/dimension", p("dimension")) + _range("/dimension", p("dimension"), 1, MAX_DIMENSION)
              + _required("/distanceMetric", p("distanceMetric"))
              + _enum("/distanceMetric", p("distanceMetric"), ["euclidean", "cosine"])
              + _length("/metadataConfiguration/nonFilterableMetadataKeys", keys, 0, MAX_NON_FILTERABLE_KEYS)
              + [problem for i, key in enumerate(keys or [])
                 for problem in _length(f"/metadataConfiguration/nonFilterableMetadataKeys/{i}", key, 1, 63)]
              + _encryption_problems(p("encryptionConfiguration")))
    if (p("vectorBucketName") is None) == (p("vectorBucketArn") is None):
        raise ValidationError("Must specify either vectorBucketName or vectorBucketArn but not both")
    if not _NAME.match(p("indexName")):
        raise ValidationError("Invalid index name")


def create_index(self: S3VectorsResponse) -> ActionResult:
    # AWS: the checks above, then the backend's. moto: refuses dimension 4096 (it allows 1..4095)
    # and checks neither list nor the encryption. Patch: check_index, then the backend above.
    p = self._get_param
    params = {name: p(name) for name in ("vectorBucketName", "vectorBucketArn", "indexName", "dataType", "dimension",
                                         "distanceMetric", "metadataConfiguration", "encryptionConfiguration")}
    check_index(params)
    index = backend_create_index(
        self.s3vectors_backend, params["vectorBucketName"], params["vectorBucketArn"], params["indexName"],
        params["dataType"], params["dimension"], params["distanceMetric"],
        metadata_configuration=params["metadataConfiguration"],
        encryption_configuration=params["encryptionConfiguration"], tags=p("tags"),
    )
    return ActionResult({"indexArn": index.index_arn})


# --- Writing and reading vectors -----------------------------------------------------------

def _index(self: S3VectorsResponse) -> Index:
    arn, name, bucket = self._get_param("indexArn"), self._get_param("indexName"), self._get_param("vectorBucketName")
    self._validate_index_params(arn, name, bucket)
    return self.s3vectors_backend.get_index(bucket, name, arn)


def _non_filterable(index: Index) -> set[str]:
    return set((getattr(index, "metadata_configuration", None) or {}).get("nonFilterableMetadataKeys", []))


def _float32(values: list) -> tuple[float, ...]:
    """The values as AWS stores them, float32, kept as a tuple: math.dist is fastest on tuples."""
    return tuple(array("f", values))


def _norm(values: tuple[float, ...]) -> float:
    return math.hypot(*values)


def _vector_data(values: Any) -> tuple[float, ...] | None:
    """The values as float32, or None unless they are numbers float32 holds: JSON carries NaN
    and the infinities as strings ("NaN"); NaN or an infinity makes the sum non-finite."""
    try:
        data = _float32(values)
    except (TypeError, OverflowError):
        return None
    return data if math.isfinite(sum(data)) else None


def _record_problem(index: Index, vector: dict, data: tuple | None) -> str | None:
    """What AWS refuses in one vector (its "Invalid record for key" errors), or None."""
    values = (vector.get("data") or {}).get("float32") or []
    if len(values) != index.dimension:
        return f"vector must have length {index.dimension}, but has length {len(values)}"
    if data is None:
        return "vector data must contain only finite floating-point values"  # emulator's wording
    if index.distance_metric == "cosine" and not any(data):
        return "a zero vector is not allowed for the cosine distance metric"  # emulator's wording
    metadata = vector.get("metadata")
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        return "Metadata must be a JSON object"  # emulator's wording
    if len(metadata) > MAX_METADATA_KEYS:
        return f"Metadata object must have at most {MAX_METADATA_KEYS} keys"
    if _json_bytes(metadata) > MAX_METADATA_BYTES:
        return f"Metadata must have at most {MAX_METADATA_BYTES} bytes"  # emulator's wording
    hidden = _non_filterable(index)
    if _json_bytes({k: v for k, v in metadata.items() if k not in hidden}) > MAX_FILTERABLE_BYTES:
        return f"Filterable metadata must have at most {MAX_FILTERABLE_BYTES} bytes"
    return None


def put_vectors(self: S3VectorsResponse) -> EmptyResult:
    # AWS: at most 500 vectors of keys 1..1024 characters in a request of at most 20 MiB; each
    # vector has the index's dimension, finite values (not all zero for cosine), at most 50
    # metadata keys, 40 KB of metadata and 2 KB of filterable metadata (every key not declared
    # non-filterable). A bad vector fails the whole request with "Invalid record for key '<key>':
    # <reason>" ("Filterable metadata must have at most 2048 bytes", "Metadata object must have
    # at most 50 keys"); values are stored as float32. moto: checks the dimension only and
    # stores the numbers as sent. Patch: every check, in that order, and float32 storage.
    if len(self.body or b"") > MAX_REQUEST_BYTES:
        raise ValidationError("Request body exceeds max allowed size")
    vectors = self._get_param("vectors")
    _raise_if(_required("/vectors", vectors) + _length("/vectors", vectors, 1, MAX_PUT_VECTORS)
              + [problem for i, v in enumerate(vectors or [])
                 for problem in _required(f"/vectors/{i}/key", v.get("key"))
                 + _length(f"/vectors/{i}/key", v.get("key"), 1, MAX_KEY_LENGTH)
                 + _required(f"/vectors/{i}/data", v.get("data"))])
    index = _index(self)
    datas = [_vector_data((vector["data"] or {}).get("float32")) for vector in vectors]
    for vector, data in zip(vectors, datas):
        problem = _record_problem(index, vector, data)
        if problem:
            raise ValidationError(f"Invalid record for key '{vector['key']}': {problem}")
    for vector, data in zip(vectors, datas):
        stored = Vector(vector["key"], {"float32": data}, vector.get("metadata") or {})
        stored.norm = _norm(data)
        index.vectors[vector["key"]] = stored
    return EmptyResult()


def _keys(self: S3VectorsResponse, most: int) -> list[str]:
    keys = self._get_param("keys")
    _raise_if(_required("/keys", keys) + _length("/keys", keys, 1, most)
              + [p for i, key in enumerate(keys or []) for p in _length(f"/keys/{i}", key, 1, MAX_KEY_LENGTH)])
    return keys


def _output(vector: Vector, data: bool, metadata: bool) -> dict:
    out: dict = {"key": vector.key}
    if data:
        out["data"] = vector.data
    if metadata:
        out["metadata"] = vector.metadata
    return out


def get_vectors(self: S3VectorsResponse) -> ActionResult:
    # AWS: 1..100 keys of 1..1024 characters; keys not in the index are left out.
    # moto: any number of keys. Patch: the bounds.
    keys = _keys(self, MAX_GET_KEYS)
    index = _index(self)
    found = [index.vectors[k] for k in dict.fromkeys(keys) if k in index.vectors]
    data, metadata = self._get_bool_param("returnData", False), self._get_bool_param("returnMetadata", False)
    return ActionResult({"vectors": [_output(v, data, metadata) for v in found]})


def delete_vectors(self: S3VectorsResponse) -> EmptyResult:
    # AWS: 1..500 keys of 1..1024 characters; deleting a missing key is no error.
    # moto: any number of keys. Patch: the bounds.
    keys = _keys(self, MAX_DELETE_KEYS)
    index = _index(self)
    for key in keys:
        index.vectors.pop(key, None)
    return EmptyResult()


# Pagination tokens are opaque ids kept here: short (the model caps nextToken at 2048
# characters, a key alone may be 1024 of 4-byte characters) and checked against the hash of their
# request (a query's holds its whole vector).
_TOKENS: dict[str, tuple] = {}
_MAX_TOKENS = 10_000
_TOKENS_LOCK = threading.Lock()  # the server answers requests on several threads


def _issue_token(state: tuple) -> str:
    token = uuid.uuid4().hex
    with _TOKENS_LOCK:
        while len(_TOKENS) >= _MAX_TOKENS:
            del _TOKENS[next(iter(_TOKENS))]
        _TOKENS[token] = (hash(state[0]), state[1])
    return token


def _redeem_token(token: str | None, request: tuple) -> Any:
    if token is None:
        return None
    with _TOKENS_LOCK:
        state = _TOKENS.get(token)
    if state is None or state[0] != hash(request):
        raise ValidationError("The provided nextToken is not valid for this request")  # emulator's wording
    return state[1]


def list_vectors(self: S3VectorsResponse) -> ActionResult:
    # AWS: pages of maxResults (1..1000, default 500) vectors, a page ending early once it has
    # read 1 MB, with a nextToken while more remain; segmentCount (1..16) and segmentIndex
    # (0..15, below segmentCount, the two together) split the index for parallel listing.
    # moto: every vector in one page, no token, no segments. Patch: all of that, in key order.
    p = self._get_param
    limit, token = p("maxResults"), p("nextToken")
    count, segment = p("segmentCount"), p("segmentIndex")
    _raise_if(_range("/maxResults", limit, 1, LIST_MAX) + _length("/nextToken", token, 1, 2048)
              + _range("/segmentCount", count, 1, MAX_SEGMENTS) + _range("/segmentIndex", segment, 0, MAX_SEGMENTS - 1))
    if (count is None) != (segment is None):
        raise ValidationError("segmentCount and segmentIndex must be specified together")  # emulator's wording
    if count is not None and segment >= count:
        raise ValidationError("segmentIndex must be less than segmentCount")  # emulator's wording
    index = _index(self)
    data, metadata = self._get_bool_param("returnData", False), self._get_bool_param("returnMetadata", False)
    request = (index.index_arn, count, segment, data, metadata)
    after = _redeem_token(token, request)
    keys = sorted(k for k in list(index.vectors)  # a copy: a PutVectors may run alongside
                  if (after is None or k > after) and (count is None or zlib.crc32(k.encode()) % count == segment))
    page, size = [], 0
    for key in keys[: limit or LIST_DEFAULT]:
        if page and size >= LIST_PAGE_BYTES:
            break
        vector = index.vectors[key]
        page.append(_output(vector, data, metadata))
        size += len(key.encode()) + 4 * index.dimension + _json_bytes(vector.metadata)
    result: dict = {"vectors": page}
    if len(page) < len(keys):
        result["nextToken"] = _issue_token((request, page[-1]["key"]))
    return ActionResult(result)


def _name_page(self: S3VectorsResponse, items: dict, scope: str) -> tuple[list, str | None]:
    """A page of buckets or indexes by name, with prefix, maxResults (1..500; by default and at
    most 500 a page, "Limitations and restrictions") and nextToken (1..512 characters)."""
    p = self._get_param
    prefix, limit, token = p("prefix"), p("maxResults"), p("nextToken")
    _raise_if(_length("/prefix", prefix, 1, 63) + _range("/maxResults", limit, 1, 500)
              + _length("/nextToken", token, 1, 512))
    request = (scope, prefix)
    after = _redeem_token(token, request)
    names = sorted(n for n in list(items) if n.startswith(prefix or "") and (after is None or n > after))
    page = names[: limit or 500]
    more = _issue_token((request, page[-1])) if len(page) < len(names) else None
    return [items[n] for n in page], more


def list_vector_buckets(self: S3VectorsResponse) -> ActionResult:
    # AWS: ListVectorBuckets pages by name, 500 at most, with a prefix. moto: filters by prefix,
    # in one page. Patch: the pages.
    buckets = {b.vector_bucket_name: b for b in self.s3vectors_backend.vector_buckets.values()}
    page, more = _name_page(self, buckets, "buckets")
    return ActionResult({"vectorBuckets": page, **({"nextToken": more} if more else {})})


def list_indexes(self: S3VectorsResponse) -> ActionResult:
    # AWS: ListIndexes pages a bucket's indexes by name, 500 at most, with a prefix. moto: ignores
    # the prefix, in one page. Patch: both.
    name, arn = self._get_param("vectorBucketName"), self._get_param("vectorBucketArn")
    if (name is None) == (arn is None):
        raise ValidationError("Must specify either vectorBucketName or vectorBucketArn but not both")
    bucket = self.s3vectors_backend.get_vector_bucket(vector_bucket_name=name, vector_bucket_arn=arn)
    page, more = _name_page(self, {i.index_name: i for i in bucket.indexes.values()}, bucket.vector_bucket_arn)
    return ActionResult({"indexes": page, **({"nextToken": more} if more else {})})


# --- QueryVectors --------------------------------------------------------------------------

_COMPARISONS = {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists"}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_primitive(value: Any) -> bool:
    return isinstance(value, (str, bool)) or _is_number(value)


def _check_filter(node: Any, hidden: set[str]) -> None:
    """Refuses a filter as AWS does: an unknown operator, an operand of the wrong type, or a
    non-filterable key (a 400). The wording is the emulator's; AWS's is not documented."""
    if not isinstance(node, dict):
        raise ValidationError("Invalid filter: a filter must be a JSON object")
    for key, value in node.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise ValidationError(f"Invalid filter: {key} takes a non-empty array of filters")
            for item in value:
                _check_filter(item, hidden)
        elif key.startswith("$"):
            raise ValidationError(f"Invalid filter: unsupported operator {key}")
        elif key in hidden:
            raise ValidationError(f"Invalid filter: metadata key {key} is non-filterable")
        elif isinstance(value, dict):
            if not value:
                raise ValidationError(f"Invalid filter: the condition on {key} is empty")
            for op, operand in value.items():
                _check_operand(key, op, operand)
        else:
            _check_operand(key, "$eq", value)


def _check_operand(key: str, op: str, operand: Any) -> None:
    if op not in _COMPARISONS:
        raise ValidationError(f"Invalid filter: unsupported operator {op} on {key}")
    valid = {
        "$eq": _is_primitive, "$ne": _is_primitive,
        "$in": lambda v: isinstance(v, list) and bool(v) and all(map(_is_primitive, v)),
        "$nin": lambda v: isinstance(v, list) and bool(v) and all(map(_is_primitive, v)),
        "$exists": lambda v: isinstance(v, bool),
    }.get(op, _is_number)(operand)
    if not valid:
        raise ValidationError(f"Invalid filter: invalid operand for {op} on {key}")


def _same(a: Any, b: Any) -> bool:
    """Equality that keeps JSON's types apart: true is not 1."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def _holds(op: str, operand: Any, present: bool, value: Any) -> bool:
    # An array value matches when one of its elements does ("Metadata filtering": $eq on an
    # array); $ne and $nin are the negations of $eq and $in, so they also match a missing key.
    if op == "$exists":
        return present == operand
    if op in ("$ne", "$nin"):
        return not _holds("$eq" if op == "$ne" else "$in", operand, present, value)
    if not present:
        return False
    values = value if isinstance(value, list) else [value]
    if op == "$eq":
        return any(_same(v, operand) for v in values)
    if op == "$in":
        return any(_same(v, o) for v in values for o in operand)
    compare = {"$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le}[op]
    return any(_is_number(v) and compare(v, operand) for v in values)


def _matches(node: dict, metadata: dict) -> bool:
    for key, value in node.items():  # several keys in one object: all must hold
        if key == "$and":
            ok = all(_matches(item, metadata) for item in value)
        elif key == "$or":
            ok = any(_matches(item, metadata) for item in value)
        else:
            conditions = value if isinstance(value, dict) else {"$eq": value}
            ok = all(_holds(op, operand, key in metadata, metadata.get(key)) for op, operand in conditions.items())
        if not ok:
            return False
    return True


def _distance(index: Index, query: tuple[float, ...], query_norm: float, vector: Vector) -> float:
    stored = vector.data["float32"]
    if not isinstance(stored, tuple):  # written by moto itself, not through put_vectors above
        vector.data["float32"] = stored = _float32(stored)
        vector.norm = _norm(stored)
    gap = math.dist(query, stored)
    if index.distance_metric == "euclidean":
        return gap
    # 1 - cos(a, b) with a.b = (|a|^2 + |b|^2 - |a - b|^2) / 2: math.dist is C, a Python dot
    # product over 10,000 vectors of 1024 dimensions takes a second.
    return 1.0 - (query_norm * query_norm + vector.norm * vector.norm - gap * gap) / (2.0 * query_norm * vector.norm)


def query_vectors(self: S3VectorsResponse) -> ActionResult:
    # AWS: POST /QueryVectors ranks the index's vectors by the index's distance metric to
    # queryVector (cosine: 1 - cos(a, b); euclidean: the straight-line distance), nearest first,
    # over the vectors that match `filter` only, and answers {"vectors": [{"key", "distance"?,
    # "metadata"?}], "distanceMetric", "nextToken"?}: distance with returnDistance, the whole
    # metadata with returnMetadata. topK is 1..10,000, in pages; the query vector has the
    # index's dimension; a filter on a non-filterable key is a 400. queryTexts (full-text and
    # hybrid search) need an ENHANCED index. moto: no such operation (a 404).
    # Patch: the operation, by exact search, which the approximate search AWS runs approaches.
    p = self._get_param
    top_k, query, token = p("topK"), (p("queryVector") or {}).get("float32"), p("nextToken")
    _raise_if(_required("/topK", top_k) + _range("/topK", top_k, 1, MAX_TOP_K)
              + _length("/nextToken", token, 1, 4096))
    if p("queryTexts"):
        raise ValidationError("Full-text and hybrid searches require a vector index in ENHANCED mode")
    if query is None:
        raise ValidationError("A request must include queryVector, queryTexts, or both")
    index = _index(self)
    if len(query) != index.dimension:
        raise ValidationError(f"Invalid query vector: vector must have length {index.dimension}, "
                              f"but has length {len(query)}")  # the PutVectors wording
    vector = _vector_data(query)
    if vector is None:
        raise ValidationError("Invalid query vector: vector data must contain only finite floating-point values")
    norm = _norm(vector)
    if index.distance_metric == "cosine" and norm == 0:
        raise ValidationError("Invalid query vector: a zero vector is not allowed for the cosine distance metric")
    flt = p("filter")
    if flt is not None:
        _check_filter(flt, _non_filterable(index))
    with_distance = self._get_bool_param("returnDistance", False)
    with_metadata = self._get_bool_param("returnMetadata", False)
    request = (index.index_arn, vector, top_k, repr(flt), with_distance, with_metadata)
    start = _redeem_token(token, request) or 0
    ranked = heapq.nsmallest(top_k, (  # ties in key order, so pages are stable
        (_distance(index, vector, norm, v), v.key, v)
        for v in list(index.vectors.values()) if flt is None or _matches(flt, v.metadata or {})))
    page = []
    for distance, _, found in ranked[start:start + QUERY_PAGE]:
        out: dict = {"key": found.key}
        if with_distance:
            out["distance"] = distance
        if with_metadata:
            out["metadata"] = found.metadata or {}
        page.append(out)
    result: dict = {"vectors": page, "distanceMetric": index.distance_metric}
    if start + QUERY_PAGE < len(ranked):
        result["nextToken"] = _issue_token((request, start + QUERY_PAGE))
    return ActionResult(result)


_parse_parameters = S3VectorsResponse.parse_parameters
_BODY_ONLY = {"PutVectors", "GetVectors", "DeleteVectors", "ListVectors", "QueryVectors", "ListIndexes",
              "ListVectorBuckets"}


def parse_parameters(self: S3VectorsResponse, request: Any) -> None:
    # AWS: answers a PutVectors of 500 vectors of 1024 dimensions in well under a second.
    # moto: parses each request member by member through botocore's model, 2 seconds for that
    # request alone. Patch: these operations carry every member in the JSON body (no header,
    # path or query members in the model), so their parameters are the body itself.
    if self._get_action() in _BODY_ONLY:
        with contextlib.suppress(ValueError):
            body = json.loads(request.data or b"{}")
            if isinstance(body, dict):
                self.params = body
                return
    _parse_parameters(self, request)


def apply() -> None:
    S3VectorsResponse.parse_parameters = parse_parameters
    urls.url_paths["{0}/QueryVectors$"] = S3VectorsResponse.dispatch
    S3VectorsBackend.create_vector_bucket = backend_create_vector_bucket
    S3VectorsBackend.create_index = backend_create_index
    for name, method in [("create_vector_bucket", create_vector_bucket), ("create_index", create_index),
                         ("put_vectors", put_vectors), ("get_vectors", get_vectors),
                         ("delete_vectors", delete_vectors), ("list_vectors", list_vectors),
                         ("query_vectors", query_vectors), ("list_vector_buckets", list_vector_buckets),
                         ("list_indexes", list_indexes)]:
        setattr(S3VectorsResponse, name, method)

