"""Fixes to moto 5.2.5's CloudFormation, so that nested-stack templates deploy as they do on AWS.

Each patch says what AWS does, what moto 5.2.5 does, and why the patch matches AWS. They replace
moto internals by name, so they hold for moto 5.2.5 only: serve.py checks the version first.
Models of resource types moto's CloudFormation lacks live in moto_models.py.
"""

import contextlib
import json
import re
from typing import Any

from moto.cloudformation import models, parsing
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.cloudformation.utils import get_stack_from_s3_url
from moto.awslambda.models import LambdaFunction
from moto.cloudwatch.models import Statistics as CloudWatchStatistics
from moto.kms.models import Key as KmsKey
from moto.s3.models import FakeBucket, s3_backends
from moto.utilities.utils import get_partition

import moto_models

_clean_json = parsing.clean_json
_create_resources = models.Stack.create_resources
_stack_update = models.Stack.update
_change_set_apply = models.ChangeSet.apply
_create_kms_key = KmsKey.create_from_cloudformation_json
_resource_map_delete = parsing.ResourceMap.delete


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


def resource_map_delete(self: parsing.ResourceMap) -> None:
    # AWS: DeletionPolicy may be !If [Condition, Retain, Delete], decided by the stack's own
    # conditions (prod retains its table, its documents bucket and their KMS key).
    # moto: compares the attribute with "Retain" as written, so a conditional policy always
    # deletes. Patch: resolve the !If with the stack's conditions before moto's delete reads it.
    for resource_json in self._resource_json_map.values():
        policy = resource_json.get("DeletionPolicy")
        branches = policy.get("Fn::If") if isinstance(policy, dict) else None
        if isinstance(branches, list) and len(branches) == 3:
            condition, if_true, if_false = branches
            resource_json["DeletionPolicy"] = if_true if self.lazy_condition_map[condition] else if_false
    _resource_map_delete(self)


def update_kms_key(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
    # AWS: a change to AWS::KMS::Key's KeyPolicy, Description or EnableKeyRotation is applied to
    # the same key, in place (no replacement): what it encrypts stays readable. moto: Key has no
    # update, so the stack update leaves no resource and every !GetAtt Key.Arn fails. Patch:
    # update the original key's policy, description and rotation, and keep it.
    properties = cloudformation_json["Properties"]
    policy = properties.get("KeyPolicy")
    if policy is not None:
        original_resource.policy = policy if isinstance(policy, str) else json.dumps(policy)
    if "Description" in properties:
        original_resource.description = properties["Description"]
    original_resource.key_rotation_status = properties.get("EnableKeyRotation", False)
    return original_resource


# AWS: the Ref of a Number parameter is a string, and a Lambda function's environment variables
# are strings (the API accepts nothing else). moto: resolves Number parameters to ints and stores
# them as they are, so GetFunctionConfiguration answers a JSON number that SDKs refuse to parse.
# Patch: keep the function's variables as strings, as Lambda does, on create and on update.
_lambda_init = LambdaFunction.__init__
_lambda_update_configuration = LambdaFunction.update_configuration


def _stringify_environment(fn: LambdaFunction) -> None:
    fn.environment_vars = {k: v if isinstance(v, str) else str(v) for k, v in (fn.environment_vars or {}).items()}


def lambda_init(self: LambdaFunction, *args: Any, **kwargs: Any) -> None:
    _lambda_init(self, *args, **kwargs)
    _stringify_environment(self)


def lambda_update_configuration(self: LambdaFunction, *args: Any, **kwargs: Any) -> Any:
    result = _lambda_update_configuration(self, *args, **kwargs)
    _stringify_environment(self)
    return result


# AWS: AWS::S3::Bucket's VersioningConfiguration turns versioning on when the bucket is made.
# moto: creates the bucket and ignores the property, so an overwritten object loses its old
# version and no delete markers are made. Patch: apply the status after moto makes the bucket.
_create_bucket = FakeBucket.create_from_cloudformation_json


def create_bucket(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    bucket = _create_bucket.__func__(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
    status = cloudformation_json.get("Properties", {}).get("VersioningConfiguration", {}).get("Status")
    if status:
        s3_backends[account_id][get_partition(region_name)].put_bucket_versioning(bucket.name, status)
    _apply_cors(bucket, cloudformation_json)
    return bucket


# AWS: AWS::S3::Bucket's CorsConfiguration sets the bucket's CORS rules when it is made or
# updated, and an update without it removes them. moto: ignores the property (GetBucketCors
# answers NoSuchCORSConfiguration). Patch: set the rules, in the API's shape, after moto's own
# create or update.
_update_bucket = FakeBucket.update_from_cloudformation_json


def _apply_cors(bucket: Any, cloudformation_json: Any) -> None:
    rules = (cloudformation_json.get("Properties", {}).get("CorsConfiguration") or {}).get("CorsRules")
    if not rules:
        bucket.cors = []
        return
    bucket.set_cors([
        {
            "AllowedMethod": rule["AllowedMethods"],
            "AllowedOrigin": rule["AllowedOrigins"],
            "AllowedHeader": rule.get("AllowedHeaders", []),
            "ExposeHeader": rule.get("ExposedHeaders", []),
            "MaxAgeSeconds": str(rule.get("MaxAge", 0)),
            "ID": rule.get("Id", ""),
        }
        for rule in rules
    ])


def update_bucket(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
    bucket = _update_bucket.__func__(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    )
    _apply_cors(bucket, cloudformation_json)
    return bucket


_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100)$")


def statistics_for_type(self: CloudWatchStatistics, stat: str) -> Any:
    """moto computes Sum, Average, Minimum, Maximum and SampleCount only, and answers None for a
    percentile, which its serializer then fails on (a 500). The dashboards ask for p50 and p99
    latencies, so percentiles are computed here, by nearest rank over the period's values."""
    match = _PERCENTILE.match(stat)
    if not match:
        return _original_statistics_for_type(self, stat)
    values = sorted(self.metric_single_values_list)
    if not values:
        return None
    rank = max(1, -(-len(values) * float(match.group(1)) // 100))
    return values[min(len(values), int(rank)) - 1]


_original_statistics_for_type = CloudWatchStatistics.get_statistics_for_type


def apply() -> None:
    CloudWatchStatistics.get_statistics_for_type = statistics_for_type
    parsing.clean_json = clean_json  # moto's clean_json recurses through this module-level name
    models.Stack.get_cfn_attribute = stack_get_cfn_attribute
    parsing.ResourceMap.build_resource_diff = build_resource_diff
    parsing.ResourceMap.update = resource_map_update
    parsing.ResourceMap.delete = resource_map_delete
    models.ChangeSet.diff = change_set_diff
    models.Stack.create_resources = create_resources
    models.Stack.update = stack_update
    models.ChangeSet.apply = change_set_apply
    models.Stack.stack_resources = property(stack_resources)
    models.Stack.update_from_cloudformation_json = classmethod(nested_stack_update)
    KmsKey.create_from_cloudformation_json = classmethod(create_kms_key)
    KmsKey.update_from_cloudformation_json = classmethod(update_kms_key)
    FakeBucket.create_from_cloudformation_json = classmethod(create_bucket)
    FakeBucket.update_from_cloudformation_json = classmethod(update_bucket)
    LambdaFunction.__init__ = lambda_init
    LambdaFunction.update_configuration = lambda_update_configuration
    moto_models.apply()
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()  # moto lists CloudFormationModel subclasses once: list moto_models' too
