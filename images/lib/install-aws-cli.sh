#!/usr/bin/env bash
# Run by each runner image's Dockerfile: installs AWS CLI v2 (which reads and deletes the runner's
# config in SSM Parameter Store), checked against AWS's release signature before it is installed.
# Takes AWS_CLI_VERSION, AWS_CLI_SIGNING_KEY_FINGERPRINT and TARGETARCH (amd64 or arm64, set by BuildKit).
set -euo pipefail

case "${TARGETARCH:?}" in
  amd64) aws_arch=x86_64 ;;
  arm64) aws_arch=aarch64 ;;
  *)
    echo "no AWS CLI build for TARGETARCH=${TARGETARCH}" >&2
    exit 1
    ;;
esac
build_dir="$(mktemp -d)"
cd "$build_dir"
bundle_url="https://awscli.amazonaws.com/awscli-exe-linux-${aws_arch}-${AWS_CLI_VERSION:?}.zip"
curl -fsSL --retry 3 -o awscliv2.zip "$bundle_url"
curl -fsSL --retry 3 -o awscliv2.zip.sig "$bundle_url.sig"
export GNUPGHOME="$build_dir/gnupg"
mkdir -m 700 "$GNUPGHOME"
gpg --batch --keyserver hkps://keyserver.ubuntu.com --recv-keys "${AWS_CLI_SIGNING_KEY_FINGERPRINT:?}"
gpg --batch --verify awscliv2.zip.sig awscliv2.zip
unzip -q awscliv2.zip
./aws/install
cd /
rm -rf "$build_dir"
aws --version
