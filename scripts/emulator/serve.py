"""The project's AWS emulator: the moto server, with moto_patches.py applied to its CloudFormation,
account_limits.py adding the Lambda and Service Quotas limits it lacks, cloudwatch_cbor.py
translating the CloudWatch SDK's RPC v2 CBOR protocol for it, and bedrock_runtime.py answering
Converse, ConverseStream and Titan embeddings for the granted model ids. s3vectors.py adds S3
Vectors' QueryVectors and the limits, pagination and index settings moto lacks; moto_models.py
models the resource types moto's CloudFormation skips (function URLs, OpenSearch Serverless,
S3 Vectors); s3_presigned.py checks presigned S3 URLs' signatures, which moto never verifies.

    .venv/bin/python scripts/emulator/serve.py -p PORT [-H HOST] [--exit-with-stdin]
                                               [--granted-models ID,ID]

EMULATOR_BEDROCK_STREAM_PAUSE_MS paces ConverseStream's deltas (bedrock_runtime.py).
"""

import argparse
import os
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))

MOTO_VERSION = "5.2.5"  # the version moto_patches.py is written against; scripts/test pins it
CBOR2_VERSION = "6.2.1"  # the CBOR codec cloudwatch_cbor.py uses; scripts/test pins it


def main() -> None:
    parser = argparse.ArgumentParser(description="moto server with the project's CloudFormation patches")
    parser.add_argument("-H", "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("-p", "--port", type=int, required=True, help="port to listen on")
    parser.add_argument(
        "--exit-with-stdin",
        action="store_true",
        help="exit when stdin reaches end of file, i.e. when the parent holding the pipe has gone",
    )
    parser.add_argument(
        "--granted-models",
        type=lambda text: [m for m in text.split(",") if m],
        default=None,
        help="the Bedrock model ids the emulator grants access to, comma-separated "
        "(default: templates/main.yaml's ChatModelId and EmbeddingModelId defaults)",
    )
    args = parser.parse_args()

    if args.exit_with_stdin:

        def exit_at_eof() -> None:
            while sys.stdin.buffer.read(65536):
                pass
            os._exit(0)

        threading.Thread(target=exit_at_eof, daemon=True).start()

    import moto

    if moto.__version__ != MOTO_VERSION:
        print(
            f"serve.py: moto {moto.__version__} is installed, but moto_patches.py targets moto "
            f"{MOTO_VERSION} exactly. Install moto=={MOTO_VERSION} (scripts/test does) or port the patches.",
            file=sys.stderr,
        )
        sys.exit(2)
    try:
        import cbor2  # noqa: F401  (checked here so a missing codec says how to install it)
    except ImportError:
        print(
            f"serve.py: cbor2 is not installed; cloudwatch_cbor.py needs it. Install it with "
            f"`.venv/bin/python -m pip install cbor2=={CBOR2_VERSION}` (scripts/test does).",
            file=sys.stderr,
        )
        sys.exit(2)

    sys.path.insert(0, HERE)
    sys.dont_write_bytecode = True  # leave no __pycache__ in the work tree
    import account_limits
    import bedrock_runtime
    import cloudwatch_cbor
    import moto_patches
    import s3_presigned
    import s3vectors
    from moto.server import main as moto_main

    moto_patches.apply()
    account_limits.apply()
    s3vectors.apply()
    s3_presigned.apply()
    cloudwatch_cbor.install()
    bedrock_runtime.install(args.granted_models if args.granted_models is not None else template_models())
    moto_main(["-H", args.host, "-p", str(args.port)])


def template_models() -> list[str]:
    """The model ids a deploy with no --param uses: the root template's parameter defaults."""
    import yaml

    class TemplateLoader(yaml.SafeLoader):
        pass

    # CloudFormation's short forms (!Ref, !Sub ...) do not matter for the Parameters block.
    TemplateLoader.add_multi_constructor("!", lambda loader, suffix, node: None)
    with open(os.path.join(HERE, "..", "..", "templates", "main.yaml"), encoding="utf-8") as f:
        parameters = yaml.load(f, Loader=TemplateLoader)["Parameters"]
    return [parameters[name]["Default"] for name in ("ChatModelId", "EmbeddingModelId")]


if __name__ == "__main__":
    main()
