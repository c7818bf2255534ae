"""Fixes to moto 5.2.5's CloudFormation, so that nested-stack templates deploy as they do on AWS.

Each patch says what AWS does, what moto 5.2.5 does, and why the patch matches AWS. They replace
moto internals by name, so they hold for moto 5.2.5 only: serve.py checks the version first.
"""

import contextlib
import fnmatch
import inspect
import json
import re
from typing import Any

from moto.apigatewayv2.exceptions import ApiNotFound
from moto.apigatewayv2.models import apigatewayv2_backends
from moto.cloudformation import models, parsing
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.cloudformation.utils import get_stack_from_s3_url
from moto.core.common_models import CloudFormationModel
from moto.kms.models import Key as KmsKey
from moto.opensearchserverless import models as aoss
from moto.utilities.utils import get_partition

_clean_json = parsing.clean_json
_create_resources = models.Stack.create_resources
_stack_update = models.Stack.update
_change_set_apply = models.ChangeSet.apply
_create_kms_key = KmsKey.create_from_cloudformation_json


def clean_json(resource_json: Any, resources_map: Any) -> Any:
    # AWS: "!GetAtt A.Outputs.KeyArn" and "${A.Outputs.KeyArn}" split at the first dot only:
    # resource A, attribute "Outputs.KeyArn" (likewise "Db.Endpoint.Address").
    # moto: splits at every dot and reads only the second part, "Outputs".
    # Patch: join the parts after the logical id back into one attribute name, as AWS reads it.
    getatt = resource_json.get("Fn::GetAtt") if isinstance(resource_json, dict) else None
    if isinstance(getatt, list) and len(getatt) > 2:
        resource_json = {**resource_json, "Fn::GetAtt": [getatt[0], ".".join(getatt[1:])]}
    return _clean_json(resource_json, resources_map)


def stack_get_cfn_attribute(self: models.Stack, attr: str) -> Any:
    # AWS: GetAtt [Child, Outputs.Name] on an AWS::CloudFormation::Stack is the child's output
    # Name; one the child does not have fails the stack with "Template error: resource Child does
    # not support attribute type Outputs.Name in Fn::GetAtt".
    # moto: Stack has no get_cfn_attribute: every such GetAtt dies with an AttributeError (a 500).
    # Patch: read the child's outputs; anything else raises the exception that moto's clean_json
    # turns into exactly that ValidationError. Never None: a missing output must not pass.
    name = attr.removeprefix("Outputs.")
    if name != attr and name in self.output_map.outputs:
        output = self.output_map[name]  # None when the output's Condition is false
        if output is not None:
            return output.value
    raise UnformattedGetAttTemplateException()


def _mentions(node: Any) -> set[str]:
    """Names a resource's JSON depends on: Ref, GetAtt, Sub and DependsOn targets, Fn::If conditions."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= _mentions(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in ("Ref", "DependsOn"):
                found.update([value] if isinstance(value, str) else value)
            elif key in ("Fn::If", "Fn::GetAtt"):
                found.add(value[0] if isinstance(value, list) else value.split(".")[0])
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                found.update(name.split(".")[0] for name in re.findall(r"\$\{([^!}][^}]*)\}", text))
            found |= _mentions(value)
    return found


def _in_dependency_order(names: list[str], resources: dict) -> list[str]:
    order: list[str] = []

    def visit(name: str, path: tuple = ()) -> None:
        if name not in order and name not in path:
            for dependency in sorted(_mentions(resources[name]) & set(names)):
                visit(dependency, path + (name,))
            order.append(name)

    for name in names:
        visit(name)
    return order


def build_resource_diff(self: parsing.ResourceMap, template: dict, parameters: dict | None = None) -> dict:
    # AWS: an update evaluates the Conditions with the new parameters: a resource whose Condition
    # turns true is created, one whose Condition turns false is deleted, and a resource is updated
    # when it resolves differently (Ref or Sub of a changed parameter, Fn::If of a flipped condition).
    # moto: diffs the template text and direct Refs of changed parameters only; a parameter change
    # never adds or removes a conditional resource.
    # Patch: load the new parameters and conditions into a scratch ResourceMap (moto's own code,
    # as update() does next) and diff the resources that exist before and after.
    new_map = parsing.ResourceMap(
        self.stack_id, self["AWS::StackName"], parameters or self.input_parameters, self.tags,
        self._region_name, self._account_id, template, self.cross_stack_resources,
    )
    for load in (new_map.load_mapping, new_map.transform_mapping, new_map.load_parameters, new_map.load_conditions):
        load()
    old, new = self._resource_json_map, template["Resources"]

    def live(rmap: parsing.ResourceMap, resources: dict, name: str) -> bool:
        condition = resources[name].get("Condition")
        return condition is None or bool(rmap.lazy_condition_map[condition])

    changed = {
        key
        for before, after in ((self.resolved_parameters, new_map.resolved_parameters),
                              (self.lazy_condition_map, new_map.lazy_condition_map))
        for key in before.keys() | after.keys()
        if before.get(key) != after.get(key)
    }
    was = {name for name in old if live(self, old, name)}
    now = {name for name in new if live(new_map, new, name)}
    return {
        "Add": [n for n in new if n in now - was],
        "Modify": [n for n in new if n in now & was and (new[n] != old[n] or changed & _mentions(new[n]))],
        "Remove": [n for n in old if n in was - now],
    }


def resource_map_update(self: parsing.ResourceMap, template: dict, parameters: dict | None = None) -> None:
    # AWS: an update deletes, creates and updates resources in dependency order, each after the
    # resources it references. moto deletes, then creates, then updates, in template order: a new
    # resource that reads an output its updated neighbour gains in this same update (AiStack
    # reading SecurityStack.Outputs.IngestRoleArn once EnableRAG is true) reads the old neighbour
    # and fails. moto also keeps deleted resources in its map, so a re-add returns a dead object.
    # Patch: moto's own steps (delete, reload parameters and conditions, create, update), each in
    # dependency order, and forget what was deleted.
    diff = self.build_resource_diff(template, parameters)
    old, new = self._resource_json_map, template["Resources"]
    for name in reversed(_in_dependency_order(diff["Remove"], old)):
        if self._parsed_resources.get(name) is not None:
            self._delete_resource(self._parsed_resources.pop(name), old[name])
    self._template, self._resource_json_map = template, new
    self.input_parameters = parameters or self.input_parameters
    for load in (self.load_mapping, self.load_parameters, self.load_conditions):
        load()
    for name in _in_dependency_order(diff["Add"] + diff["Modify"], new):
        if name in diff["Add"]:
            _ = self[name]  # moto creates a resource on first lookup
        else:
            args = (name, new[name], self, self._account_id, self._region_name)
            self._parsed_resources[name] = parsing.parse_and_update_resource(*args)


def change_set_diff(self: models.ChangeSet) -> list:
    # AWS: a change set lists what executing it would add, modify and remove, given its parameters.
    # moto: diffs without the change set's parameters. Patch: diff with them.
    diff = self.stack.resource_map.build_resource_diff(self.template_dict, self.parameters)
    new, old = self.template_dict["Resources"], self.stack.resource_map._resource_json_map
    return [
        models.Change(action, name, (old if action == "Remove" else new)[name]["Type"])
        for action, names in diff.items()
        for name in names
    ]


def _fail(stack: models.Stack, error: Exception, creating: bool) -> None:
    message = getattr(error, "message", None) or str(error)
    if creating:  # roll back: delete what was built
        with contextlib.suppress(Exception):
            stack.resource_map.delete()
    if stack.events and stack.events[-1].resource_status in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        stack.events.pop()  # moto logged completion before the outputs were resolved
    stack.status = "ROLLBACK_COMPLETE" if creating else "UPDATE_ROLLBACK_FAILED"
    stack.stack_status_reason = message  # DescribeStacks' StackStatusReason
    stack._add_stack_event("CREATE_FAILED" if creating else "UPDATE_FAILED", resource_status_reason=message)
    stack._add_stack_event(stack.status)
    stack.output_map = parsing.OutputMap(stack.resource_map, {}, stack.stack_id)


# AWS: a stack whose resource or output cannot be made (e.g. a GetAtt of an output a nested stack
# lacks) fails: a create rolls back (what was built is deleted) to ROLLBACK_COMPLETE, an update to
# UPDATE_ROLLBACK_COMPLETE, with the reason in the stack's events; a parent stack fails in turn.
# moto: raises out of the API call and leaves the stack IN_PROGRESS (or with its old status), half
# built; outputs resolve lazily, so a bad Output surfaces only in DescribeStacks, which then
# re-runs the failing lookup and answers 500 for every stack in the region.
# Patch: resolve the outputs as part of the operation; on failure mark the stack as AWS would and
# re-raise: moto reports failures synchronously, so the API call (and any parent) still fails
# with the message. An update is marked UPDATE_ROLLBACK_FAILED with no outputs, because moto
# cannot roll back: what it applied stays applied.
def create_resources(self: models.Stack) -> None:
    try:
        _create_resources(self)
        _ = self.outputs
    except Exception as error:
        _fail(self, error, creating=True)
        raise


def stack_update(self: models.Stack, *args: Any, **kwargs: Any) -> None:
    try:
        _stack_update(self, *args, **kwargs)
        _ = self.outputs
    except Exception as error:
        _fail(self, error, creating=False)
        raise


def change_set_apply(self: models.ChangeSet) -> None:
    # Also, AWS: after ExecuteChangeSet the stack has the change set's template, parameters and
    # outputs. moto updates the resources only; the stack keeps its old template and outputs (a
    # CREATE change set leaves no outputs at all). Patch: refresh them as Stack.update() does.
    stack = self.stack
    try:
        _change_set_apply(self)
        stack.template = self.template
        stack._parse_template()
        stack.description = stack.template_dict.get("Description")
        stack.parameters = self.parameters or stack.parameters
        stack.output_map = stack._create_output_map()
        _ = stack.outputs
    except Exception as error:
        _fail(stack, error, creating=self.change_set_type == "CREATE")
        raise


def stack_resources(self: models.Stack) -> list:
    # AWS: DescribeStackResource(s)/ListStackResources list what the stack has; a resource whose
    # Condition is false does not exist. moto walks the template, listing such a resource as an
    # empty entry (DescribeStackResource fails with a 500) and creating anything missing on the
    # fly, even in a failed stack. Patch: list the resources that were created, nothing else
    # (resource types moto skipped as unsupported are not listed either).
    parsed = self.resource_map._parsed_resources
    return [parsed[name] for name in self.resource_map.resources if parsed.get(name) is not None]


def nested_stack_update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
    # AWS: changing a nested stack's TemplateURL or Parameters updates the child stack in place:
    # same stack id, UPDATE_COMPLETE, unchanged resources kept.
    # moto: deletes the child stack and creates another, replacing every resource in it.
    # Patch: call the backend's update_stack on the existing child, as AWS does.
    properties = cloudformation_json["Properties"]
    template = get_stack_from_s3_url(
        properties["TemplateURL"], account_id=account_id, partition=get_partition(region_name)
    )
    parameters = [{"ParameterKey": k, "ParameterValue": v} for k, v in properties.get("Parameters", {}).items()]
    backend = models.cloudformation_backends[account_id][region_name]
    return backend.update_stack(original_resource.stack_id, template, None, parameters, None)


def create_kms_key(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    # AWS: AWS::KMS::Key's KeyPolicy is a JSON object (or its text) and may be left out (the
    # default key policy). moto keeps the object as is, so DescribeKey then fails with a 500
    # (json.loads of a dict); a missing KeyPolicy is a KeyError. Patch: hand moto the policy as
    # the JSON text the KMS API carries, or None, for which moto uses the default policy.
    properties = dict(cloudformation_json["Properties"])
    policy = properties.get("KeyPolicy")
    properties["KeyPolicy"] = policy if policy is None or isinstance(policy, str) else json.dumps(policy)
    cloudformation_json = {**cloudformation_json, "Properties": properties}
    return _create_kms_key(resource_name, cloudformation_json, account_id, region_name, **kwargs)


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


# AWS: CloudFormation makes AWS::ApiGatewayV2::{Api,Integration,Route,Stage} and
# AWS::OpenSearchServerless::{SecurityPolicy,AccessPolicy,Collection} through those services' APIs.
# moto: has the backends but no CloudFormation model for these types, so it skips them: their Ref
# is None (compute.yaml's output ApiId is dropped, "${HttpApi}" stays literally in a Sub) and
# GetAtt fails. Patch: models that make, update and delete the objects in moto's own backends, as
# the service APIs do, so the emulator's APIs see them; Ref and GetAtt answer what the
# CloudFormation reference documents. Properties moto's backends do not model are ignored.
def _camel(node: Any) -> Any:
    """A CloudFormation struct in its API spelling: {"MaxAge": 600} -> {"maxAge": 600}."""
    return {k[:1].lower() + k[1:]: _camel(v) for k, v in node.items()} if isinstance(node, dict) else node


def _call(method: Any, properties: dict, **given: Any) -> Any:
    """Call a backend method with CloudFormation properties as its arguments (IntegrationUri -> integration_uri)."""
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


class ApiGatewayV2Api(_Resource, CloudFormationModel):
    __module__ = "moto.apigatewayv2.models"
    attributes = {"ApiId": "physical_resource_id", "ApiEndpoint": "endpoint"}
    replace_on = ("ProtocolType",)

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApiGatewayV2::Api"

    def __init__(self, account_id: str, region_name: str, properties: dict):
        self.backend = apigatewayv2_backends[account_id][region_name]
        cors = _camel(properties.get("CorsConfiguration"))
        api = _call(self.backend.create_api, properties, cors_configuration=cors)
        self.physical_resource_id, self.endpoint = api.api_id, api.api_endpoint

    def update(self, properties: dict) -> None:
        cors = _camel(properties.get("CorsConfiguration"))
        _call(self.backend.update_api, properties, api_id=self.physical_resource_id, cors_configuration=cors)
        if cors is None:
            self.backend.delete_cors_configuration(self.physical_resource_id)

    def delete(self, *_: Any) -> None:
        self.backend.delete_api(self.physical_resource_id)


class ApiGatewayV2Integration(_Resource, CloudFormationModel):
    __module__ = "moto.apigatewayv2.models"
    attributes = {"IntegrationId": "physical_resource_id"}
    replace_on = ("ApiId",)

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApiGatewayV2::Integration"

    def __init__(self, account_id: str, region_name: str, properties: dict):
        self.backend, self.api_id = apigatewayv2_backends[account_id][region_name], properties["ApiId"]
        tls = _camel(properties.get("TlsConfig"))
        self.physical_resource_id = _call(self.backend.create_integration, properties, tls_config=tls).id

    def update(self, properties: dict) -> None:
        tls = _camel(properties.get("TlsConfig"))
        _call(self.backend.update_integration, properties, integration_id=self.physical_resource_id, tls_config=tls)

    def delete(self, *_: Any) -> None:
        with contextlib.suppress(ApiNotFound):  # deleting an API deletes its integrations
            self.backend.delete_integration(self.api_id, self.physical_resource_id)


class ApiGatewayV2Route(_Resource, CloudFormationModel):
    __module__ = "moto.apigatewayv2.models"
    attributes = {"RouteId": "physical_resource_id"}
    replace_on = ("ApiId",)

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApiGatewayV2::Route"

    def __init__(self, account_id: str, region_name: str, properties: dict):
        self.backend, self.api_id = apigatewayv2_backends[account_id][region_name], properties["ApiId"]
        defaults = {"api_key_required": properties.get("ApiKeyRequired", False),  # the API's defaults
                    "authorization_type": properties.get("AuthorizationType", "NONE")}
        self.physical_resource_id = _call(self.backend.create_route, properties, **defaults).route_id

    def update(self, properties: dict) -> None:
        _call(self.backend.update_route, properties, route_id=self.physical_resource_id)

    def delete(self, *_: Any) -> None:
        with contextlib.suppress(ApiNotFound):
            self.backend.delete_route(self.api_id, self.physical_resource_id)


class ApiGatewayV2Stage(_Resource, CloudFormationModel):
    __module__ = "moto.apigatewayv2.models"
    replace_on = ("ApiId", "StageName")

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApiGatewayV2::Stage"

    def __init__(self, account_id: str, region_name: str, properties: dict):
        self.backend, self.api_id = apigatewayv2_backends[account_id][region_name], properties["ApiId"]
        self.physical_resource_id = properties["StageName"]  # Ref: the stage name
        self.update(properties)

    def update(self, properties: dict) -> None:
        # The CreateStage request: camelCase structs; StageVariables and Tags keep their keys.
        config = {k[:1].lower() + k[1:]: v if k in ("StageVariables", "Tags") else _camel(v)
                  for k, v in properties.items() if k != "ApiId"}
        config["routeSettings"] = {route: _camel(s) for route, s in properties.get("RouteSettings", {}).items()}
        self.backend.create_stage(self.api_id, config)  # moto has no UpdateStage: store it anew, same name

    def delete(self, *_: Any) -> None:
        with contextlib.suppress(ApiNotFound):
            self.backend.delete_stage(self.api_id, self.physical_resource_id)


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


def apply() -> None:
    parsing.clean_json = clean_json  # moto's clean_json recurses through this module-level name
    models.Stack.get_cfn_attribute = stack_get_cfn_attribute
    parsing.ResourceMap.build_resource_diff = build_resource_diff
    parsing.ResourceMap.update = resource_map_update
    models.ChangeSet.diff = change_set_diff
    models.Stack.create_resources = create_resources
    models.Stack.update = stack_update
    models.ChangeSet.apply = change_set_apply
    models.Stack.stack_resources = property(stack_resources)
    models.Stack.update_from_cloudformation_json = classmethod(nested_stack_update)
    KmsKey.create_from_cloudformation_json = classmethod(create_kms_key)
    aoss.OpenSearchServiceServerlessBackend.create_collection = aoss_create_collection
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()  # moto lists CloudFormationModel subclasses once: list the ones above too
