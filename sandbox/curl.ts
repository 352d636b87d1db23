/**
 * The command a user pastes to send their own webhook: it signs the payload file as GitHub does (HMAC-SHA256
 * of the exact bytes with the webhook secret, read from its file so the secret is not echoed) and posts it.
 * It prints the HTTP status the app answered.
 */
export function curlCommand(appUrl: string, event: string, payloadFile: string, secretFile: string): string {
  const payload = shellQuote(payloadFile);
  // `openssl dgst` prints "SHA2-256(stdin)= <hex>" (OpenSSL 3) or "(stdin)= <hex>": the hex is the last field.
  const signature = `sha256=$(openssl dgst -sha256 -hmac "$(cat ${shellQuote(secretFile)})" < ${payload} | awk '{print $NF}')`;
  return [
    `curl -sS -o /dev/null -w '%{http_code}\\n' ${appUrl}/api/github/webhooks`,
    `  -H 'content-type: application/json' -H 'X-GitHub-Event: ${event}'`,
    `  -H "X-GitHub-Delivery: sandbox-$RANDOM$RANDOM"`,
    `  -H "X-Hub-Signature-256: ${signature}"`,
    `  --data-binary @${payload}`,
  ].join(' \\\n');
}

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}
