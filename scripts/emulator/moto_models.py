"""CloudFormation models for resource types moto 5.2.5 skips: Lambda function URLs, OpenSearch
Serverless and S3 Vectors. Importing this module defines them; moto_patches.apply() registers them.
"""

import contextlib
import fnmatch
import inspect
import json
import re
from typing import Any

from moto.awslambda.exceptions import UnknownFunctionException
from moto.awslambda.models import lambda_backends
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.cloudformation.exceptions import ValidationError as CloudFormationValidationError
from moto.core.common_models import CloudFormationModel
from moto.opensearchserverless import models as aoss
from moto.s3vectors.models import s3vectors_backends
from moto.utilities.utils import get_partition

import s3vectors


def aoss_create_collection(self, client_token, description, name, standby_replicas, tags, type):
    # AWS: CreateCollection needs an encryption policy whose rules name the collection (or a
    # pattern such as collection/logs-*); with "AWSOwnedKey": true the collection's kmsKeyArn is
    # "auto". moto: takes the last policy of any type naming it and reads its KmsARN, so a network
    # policy (a list) or an AWS-owned key fails with a 500. Patch: match encryption policies only,
    # by pattern, and use "auto" for an AWS-owned key.
    policies = [
        sp.policy for sp in self.security_policies.values()
        if sp.type == "encryption" and any(fnmatch.fnmatchcase(f"collection/{name}", r) for r in sp.resources)
    ]
    if not policies:
        raise aoss.ValidationException(
            msg=f"No matching security policy of encryption type found for collection name: {name}. "
            "Please create security policy of encryption type for this collection."
        )
    collection = aoss.Collection(
        client_token or aoss.mock_random.get_random_string(10), description, name, standby_replicas, tags, type,
        {"KmsARN": policies[-1].get("KmsARN", "auto")}, self.region_name, self.account_id,
    )
    self.collections[collection.id] = collection
    self.tag_resource(collection.arn, tags)
    return collection


# AWS: CloudFormation makes AWS::Lambda::Url, AWS::OpenSearchServerless::{SecurityPolicy,
# AccessPolicy,Collection} and AWS::S3Vectors::{VectorBucket,Index} through those services' APIs.
# moto: has the backends but no CloudFormation model for these types, so it skips them: their Ref
# is None and GetAtt fails (compute.yaml's ApiUrl, !GetAtt ChatUrl.FunctionUrl, fails the whole
# stack). Patch: models that make, update and delete the objects in moto's own backends, as
# the service APIs do, so the emulator's APIs see them; Ref and GetAtt answer what the
# CloudFormation reference documents. Properties moto's backends do not model are ignored.
def _camel(node: Any) -> Any:
    """A CloudFormation struct in its API spelling: {"MaxAge": 600} -> {"maxAge": 600}."""
    return {k[:1].lower() + k[1:]: _camel(v) for k, v in node.items()} if isinstance(node, dict) else node


def _call(method: Any, properties: dict, **given: Any) -> Any:
    """Call a backend method with CloudFormation properties as its arguments (SecurityPolicy -> security_policy)."""
    named = {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): v for k, v in properties.items()}
    return method(**{p: given.get(p, named.get(p)) for p in inspect.signature(method).parameters})


class _Resource:
    """What moto's CloudFormation asks of a resource; the models below add their service's calls.

    Each sets __module__ to its service's moto module: moto files model classes by that name.
    """

    attributes: dict[str, str] = {}  # GetAtt name -> attribute of the model
    replace_on: tuple[str, ...] = ()  # properties whose change AWS documents as "Replacement"

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.attributes

    def get_cfn_attribute(self, attr: str) -> Any:
        if attr not in self.attributes:
            raise UnformattedGetAttTemplateException()
        return getattr(self, self.attributes[attr])

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        resource = cls(account_id, region_name, cloudformation_json["Properties"])
        resource.properties = cloudformation_json["Properties"]
        return resource

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        # AWS updates in place, unless a property that requires replacement changed: then it
        # creates the new resource and deletes the old one.
        properties = cloudformation_json["Properties"]
        if any(properties.get(p) != original_resource.properties.get(p) for p in cls.replace_on):
            args = (new_resource_name, cloudformation_json, account_id, region_name)
            new = cls.create_from_cloudformation_json(*args)
            original_resource.delete()
            return new
        original_resource.update(properties)
        original_resource.properties = properties
        return original_resource


class LambdaUrl(_Resource, CloudFormationModel):
    # The CloudFormation reference: Ref is the function's ARN; FunctionUrl and FunctionArn are the
    # attributes; TargetFunctionArn and Qualifier require replacement, the rest update in place.
    # Qualifier is ignored: moto's function URLs are for unqualified functions only.
    __module__ = "moto.awslambda.models"
    attributes = {"FunctionUrl": "url", "FunctionArn": "physical_resource_id"}
    replace_on = ("TargetFunctionArn", "Qualifier")

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::Url"

    def __init__(self, account_id: str, region_name: str, properties: dict):
        self.backend = lambda_backends[account_id][region_name]
        target = properties["TargetFunctionArn"]  # an ARN or a name: Lambda takes either
        self.physical_resource_id = self.backend.get_function(target).function_arn
        url_config = self.backend.create_function_url_config(self.physical_resource_id, self._config(properties))
        # AWS: https://<url-id>.lambda-url.<region>.on.aws/, ending in a slash; moto leaves the
        # slash off. The stored URL is fixed, so GetFunctionUrlConfig answers the same.
        url_config.url = url_config.url.rstrip("/") + "/"
        self.url = url_config.url

    @staticmethod
    def _config(properties: dict) -> dict:
        # The CreateFunctionUrlConfig request has CloudFormation's spelling, Cors included.
        # AWS's InvokeMode defaults to BUFFERED; moto's would answer "Buffered".
        return {"AuthType": properties["AuthType"], "Cors": properties.get("Cors"),
                "InvokeMode": properties.get("InvokeMode", "BUFFERED")}

    def update(self, properties: dict) -> None:
        # AWS: an update replaces the URL's settings. moto's update ignores InvokeMode and keeps
        # Cors that the template removed: set the whole config, as AWS holds it.
        url_config = self.backend.update_function_url_config(self.physical_resource_id, self._config(properties))
        url_config.config = self._config(properties)

    def delete(self, *_: Any) -> None:
        with contextlib.suppress(UnknownFunctionException):  # deleting the function deletes its URL
            self.backend.delete_function_url_config(self.physical_resource_id)


class OpenSearchServerlessSecurityPolicy(_Resource, CloudFormationModel):
    __module__ = "moto.opensearchserverless.models"
    replace_on = ("Name", "Type")

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::OpenSearchServerless::SecurityPolicy"

    def __init__(self, account_id: str, region_name: str, properties: dict):
        self.backend = aoss.opensearchserverless_backends[account_id][region_name]
        self.policy = _call(self.backend.create_security_policy, properties)
        self.physical_resource_id = self.policy.name  # Ref: the policy name

    def update(self, properties: dict) -> None:
        _call(self.backend.update_security_policy, properties, policy_version=self.policy.policy_version)

    def delete(self, *_: Any) -> None:  # moto has no DeleteSecurityPolicy: drop it from the store
        store = self.backend.security_policies
        for token in [t for t, policy in store.items() if policy is self.policy]:
            del store[token]


class OpenSearchServerlessAccessPolicy(_Resource, CloudFormationModel):
    __module__ = "moto.opensearchserverless.models"
    # moto has no data access policy API (CreateAccessPolicy and the rest): the policy is checked
    # as AWS checks it (type "data", a JSON list of rules) and kept by CloudFormation only.
    replace_on = ("Name", "Type")

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::OpenSearchServerless::AccessPolicy"

    def __init__(self, account_id: str, region_name: str, properties: dict):
        self.update(properties)
        self.physical_resource_id = properties["Name"]  # Ref: the policy name

    def update(self, properties: dict) -> None:
        if properties["Type"] != "data" or not isinstance(json.loads(properties["Policy"]), list):
            raise aoss.ValidationException(msg=f"Invalid data access policy {properties['Name']}")

    def delete(self, *_: Any) -> None:
        pass


class OpenSearchServerlessCollection(_Resource, CloudFormationModel):
    __module__ = "moto.opensearchserverless.models"
    attributes = {"Id": "physical_resource_id", "Arn": "arn",
                  "CollectionEndpoint": "endpoint", "DashboardEndpoint": "dashboard"}
    replace_on = ("Name", "Type", "StandbyReplicas")

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::OpenSearchServerless::Collection"

    def __init__(self, account_id: str, region_name: str, properties: dict):
        self.backend = aoss.opensearchserverless_backends[account_id][region_name]
        tags = [{"key": t["Key"], "value": t["Value"]} for t in properties.get("Tags", [])]
        collection = _call(self.backend.create_collection, properties, tags=tags)
        self.physical_resource_id, self.arn = collection.id, collection.arn  # Ref: the collection id
        self.endpoint, self.dashboard = collection.collection_endpoint, collection.dashboard_endpoint

    def update(self, properties: dict) -> None:  # moto has no UpdateCollection; Description is all
        self.backend.collections[self.physical_resource_id].description = properties.get("Description")

    def delete(self, *_: Any) -> None:
        self.backend.delete_collection(None, self.physical_resource_id)


def _s3vectors_name(properties: dict, name_property: str, generated: str) -> str:
    """The name given, or one made from the stack and logical id as CloudFormation names resources,
    within the names S3 Vectors accepts: lowercase, at most 63 characters."""
    if properties.get(name_property):
        return properties[name_property]
    name = re.sub(r"[^a-z0-9-]+", "-", generated.lower()).strip("-")
    return name if len(name) <= 63 else f"{name[:50].rstrip('-')}-{name[-12:].lstrip('-')}"


def _s3vectors_encryption(properties: dict) -> dict | None:
    return _camel(properties.get("EncryptionConfiguration")) or None


def _s3vectors_tags(properties: dict) -> dict:
    return {t["Key"]: t["Value"] for t in properties.get("Tags", [])}


class _S3VectorsResource(_Resource):
    # The CloudFormation resource schemas of both types: the primary identifier, so the Ref, is
    # the ARN; VectorBucketArn/IndexArn and CreationTime are the read-only attributes; every
    # property but Tags is create-only, so a change of any other replaces the resource.
    name_property = ""

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        # AWS: a replacement of a resource whose name the template sets fails the update with
        # this message (the new resource could not take the name). moto would try, and fail on
        # the name with the service's ConflictException instead. Patch: AWS's refusal.
        properties = cloudformation_json["Properties"]
        named = properties.get(cls.name_property)
        replaces = any(properties.get(p) != original_resource.properties.get(p) for p in cls.replace_on)
        if replaces and named and named == original_resource.properties.get(cls.name_property):
            raise CloudFormationValidationError(message=(
                "CloudFormation cannot update a stack when a custom-named resource requires replacing. "
                f"Rename {named} and update the stack again."))
        return super().update_from_cloudformation_json.__func__(
            cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        properties = cloudformation_json["Properties"]
        name = _s3vectors_name(properties, cls.name_property, resource_name)
        resource = cls(account_id, region_name, properties, name)
        resource.properties = properties
        return resource

    def update(self, properties: dict) -> None:
        arn = self.physical_resource_id
        old = self.backend.list_tags_for_resource(arn)
        self.backend.untag_resource(arn, [k for k in old if k not in _s3vectors_tags(properties)])
        if properties.get("Tags"):
            self.backend.tag_resource(arn, _s3vectors_tags(properties))


class S3VectorsVectorBucket(_S3VectorsResource, CloudFormationModel):
    __module__ = "moto.s3vectors.models"
    attributes = {"VectorBucketArn": "physical_resource_id", "CreationTime": "creation_time"}
    replace_on = ("VectorBucketName", "EncryptionConfiguration")
    name_property = "VectorBucketName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::S3Vectors::VectorBucket"

    def __init__(self, account_id: str, region_name: str, properties: dict, name: str):
        self.backend = s3vectors_backends[account_id][get_partition(region_name)]
        encryption = _s3vectors_encryption(properties)
        s3vectors.check_vector_bucket(name, encryption)
        bucket = s3vectors.backend_create_vector_bucket(
            self.backend, region_name, name, encryption, _s3vectors_tags(properties))
        self.name, self.physical_resource_id = name, bucket.vector_bucket_arn  # Ref: the bucket's ARN
        self.creation_time = bucket.creation_time.isoformat().replace("+00:00", "Z")

    def delete(self, *_: Any) -> None:  # as on AWS, only an empty bucket can be deleted
        self.backend.delete_vector_bucket(self.name)


class S3VectorsIndex(_S3VectorsResource, CloudFormationModel):
    __module__ = "moto.s3vectors.models"
    attributes = {"IndexArn": "physical_resource_id", "CreationTime": "creation_time"}
    replace_on = ("VectorBucketName", "VectorBucketArn", "IndexName", "DataType", "Dimension", "DistanceMetric",
                  "MetadataConfiguration", "EncryptionConfiguration")
    name_property = "IndexName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::S3Vectors::Index"

    def __init__(self, account_id: str, region_name: str, properties: dict, name: str):
        self.backend = s3vectors_backends[account_id][get_partition(region_name)]
        dimension = properties.get("Dimension")
        params = {
            "vectorBucketName": properties.get("VectorBucketName"),
            "vectorBucketArn": properties.get("VectorBucketArn"),
            "indexName": name, "dataType": properties.get("DataType"),
            "dimension": int(dimension) if dimension is not None else None,  # a Ref to a parameter is a string
            "distanceMetric": properties.get("DistanceMetric"),
            "metadataConfiguration": _camel(properties.get("MetadataConfiguration")),
            "encryptionConfiguration": _s3vectors_encryption(properties),
        }
        s3vectors.check_index(params)
        index = s3vectors.backend_create_index(
            self.backend, params["vectorBucketName"], params["vectorBucketArn"], name, params["dataType"],
            params["dimension"], params["distanceMetric"], metadata_configuration=params["metadataConfiguration"],
            encryption_configuration=params["encryptionConfiguration"], tags=_s3vectors_tags(properties),
        )
        self.physical_resource_id = index.index_arn  # Ref: the index's ARN
        self.creation_time = index.creation_time.isoformat().replace("+00:00", "Z")

    def delete(self, *_: Any) -> None:
        self.backend.delete_index(None, None, self.physical_resource_id)


def apply() -> None:
    aoss.OpenSearchServiceServerlessBackend.create_collection = aoss_create_collection
