#!/usr/bin/env bash
# Starts one ephemeral GitHub Actions runner from the single-use credential that fleetbot
# leaves in an SSM parameter. The credential is never printed: no `set -x`, no echo of it.
set -euo pipefail

readonly RUNNER_HOME="${RUNNER_HOME:-/home/runner}"
readonly RUNNER_LOG_NAME=fleetbot-runner
# log, fail, the FLEETBOT_RUNNER_CONFIG_* settings and the SSM parameter's reading and deletion, shared
# by the runner images: images/lib in the repository, /usr/local/lib in the image (see the Dockerfile).
# shellcheck source-path=SCRIPTDIR source=../lib/runner-credential.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/runner-credential.sh"

check_runner_config_settings

# Registration-token mode: {"url","token","name","labels":[...],"runnerGroup"?}.
# jq's stderr is discarded because its messages can quote parts of the input, which holds the token.
register_and_run() {
  local config=$1
  jq -e 'type == "object"
    and ([.url, .token, .name] | all(type == "string" and length > 0))
    and (.labels | type == "array" and length > 0 and all(type == "string"))
    and (.runnerGroup | . == null or type == "string")' >/dev/null 2>&1 <<<"$config" ||
    fail "$EXIT_CONFIG_MALFORMED" "SSM parameter $param holds JSON without the url, token, name and labels a registration needs"

  local url token name labels runner_group
  url="$(jq -r '.url' <<<"$config")"
  token="$(jq -r '.token' <<<"$config")"
  name="$(jq -r '.name' <<<"$config")"
  labels="$(jq -r '.labels | join(",")' <<<"$config")"
  runner_group="$(jq -r '.runnerGroup // empty' <<<"$config")"

  local config_args=(--unattended --ephemeral --disableupdate --replace
    --url "$url" --name "$name" --labels "$labels")
  if [[ -n $runner_group ]]; then
    config_args+=(--runnergroup "$runner_group")
  fi
  config_args+=(--work _work)

  # The runner reads ACTIONS_RUNNER_INPUT_<ARG> for any argument: a token there stays out of argv (ps).
  ACTIONS_RUNNER_INPUT_TOKEN="$token" "$RUNNER_HOME/config.sh" "${config_args[@]}"
  exec "$RUNNER_HOME/run.sh"
}

read_runner_config
# The credential is single-use, so nothing should be able to read it again once we hold it.
# A failed delete is only a warning: the runner can still start, a JIT config is spent once used,
# and a registration token expires within the hour.
delete_runner_config
cd "$RUNNER_HOME"
log "starting runner from SSM parameter $param"
if [[ $value =~ ^[[:space:]]*\{ ]]; then
  register_and_run "$value"
fi
# Default: the encoded just-in-time config, which registers and runs the runner in one step.
# Through the environment, not --jitconfig: an argument is readable by every process (ps).
ACTIONS_RUNNER_INPUT_JITCONFIG="$value" exec "$RUNNER_HOME/run.sh"
