#!/bin/sh
# Installs Terraform and the AWS provider for IssueOps, each checked against a pinned SHA-256, from
# the image build's ARGs (see Dockerfile). Without ISSUEOPS=true it only creates the empty directories,
# so the runtime stage copies the same paths either way.
set -eu

bin_dir=/opt/terraform/bin
mirror=/usr/local/share/terraform/plugins
mkdir -p "$bin_dir" "$mirror"

case "$ISSUEOPS" in
  true) ;;
  false) exit 0 ;;
  *) echo "ISSUEOPS must be true or false, not '$ISSUEOPS'" >&2; exit 1 ;;
esac

# The checksums below are for linux_amd64 builds.
if [ "${TARGETARCH:-amd64}" != amd64 ]; then
  echo "the pinned Terraform and provider checksums are for linux/amd64, not linux/$TARGETARCH" >&2
  exit 1
fi

apt-get update
apt-get install -y --no-install-recommends ca-certificates curl unzip
tmp=$(mktemp -d)

curl -fsSLo "$tmp/terraform.zip" \
  "https://releases.hashicorp.com/terraform/${TERRAFORM_VERSION}/terraform_${TERRAFORM_VERSION}_linux_amd64.zip"
echo "${TERRAFORM_SHA256}  $tmp/terraform.zip" | sha256sum -c -
unzip -q "$tmp/terraform.zip" terraform -d "$bin_dir"
chmod 0755 "$bin_dir/terraform"

# The unpacked mirror layout. Terraform's h1: lock hash covers exactly these two files, so checking both
# is checking the provider release itself. The directory is one of Terraform's implied local mirrors.
provider_dir="$mirror/registry.terraform.io/hashicorp/aws/${AWS_PROVIDER_VERSION}/linux_amd64"
provider_binary="terraform-provider-aws_v${AWS_PROVIDER_VERSION}_x5"
mkdir -p "$provider_dir"
curl -fsSLo "$tmp/provider.zip" \
  "https://releases.hashicorp.com/terraform-provider-aws/${AWS_PROVIDER_VERSION}/terraform-provider-aws_${AWS_PROVIDER_VERSION}_linux_amd64.zip"
unzip -q "$tmp/provider.zip" -d "$provider_dir"
(
  cd "$provider_dir"
  printf '%s  %s\n%s  %s\n' \
    "$AWS_PROVIDER_BINARY_SHA256" "$provider_binary" \
    "$AWS_PROVIDER_LICENSE_SHA256" LICENSE.txt | sha256sum -c -
)
chmod 0755 "$provider_dir/$provider_binary"

rm -rf "$tmp" /var/lib/apt/lists/*
