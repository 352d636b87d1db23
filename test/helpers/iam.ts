/**
 * Whether an IAM policy's Resource pattern matches an ARN, as IAM matches it: `*` is any run of characters,
 * "/" included, and `?` any one character; everything else literally, case-sensitively.
 */
export function iamResourceMatches(pattern: string, arn: string): boolean {
  const source = [...pattern]
    .map((char) => (char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`).test(arn);
}

/** The ARN of an SSM parameter named with a leading "/" (`/a/b` → `…:parameter/a/b`). */
export function parameterArn(name: string, region = 'us-east-1', account = '123456789012', partition = 'aws'): string {
  return `arn:${partition}:ssm:${region}:${account}:parameter${name}`;
}
