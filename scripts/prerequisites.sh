#!/usr/bin/env bash
# Installs what a fresh Debian machine needs to build slacap (the bundled librdkafka is compiled
# from source) and to run its tests. Idempotent; needs root (or sudo) only to install packages.
set -euo pipefail

missing=()
command -v cargo >/dev/null || { echo "prerequisites: cargo not found; install Rust from rustup first" >&2; exit 1; }
for tool in cc:gcc c++:g++ make:make perl:perl python3:python3 pkg-config:pkg-config; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool##*:}")
done
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
[ -e /usr/include/zlib.h ] || missing+=(zlib1g-dev)
# librdkafka's TLS and SASL/SCRAM (openssl-sys), and the test CA of the HTTPS tests.
[ -e /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
command -v openssl >/dev/null || missing+=(openssl)
# A real browser for the console's tests (headless Chromium; the driver for WebDriver use).
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)

if [ ${#missing[@]} -gt 0 ]; then
  echo "prerequisites: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Independent readers of the Delta history in the tests (delta-rs's Python binding).
python3 -c "import deltalake" 2>/dev/null || python3 -m pip install -q --disable-pip-version-check "deltalake==1.6.*" >/dev/null 2>&1 || python3 -m pip install -q --break-system-packages --disable-pip-version-check "deltalake==1.6.*"
# An independent validator of the API's OpenAPI 3.1 document (tests/api.rs).
python3 -c "import openapi_spec_validator" 2>/dev/null || python3 -m pip install -q --disable-pip-version-check "openapi-spec-validator==0.7.*" >/dev/null 2>&1 || python3 -m pip install -q --break-system-packages --disable-pip-version-check "openapi-spec-validator==0.7.*"
# The S3-compatible server of the object-storage tests.
"$(dirname "$0")/test-s3.sh" install
