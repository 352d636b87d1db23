/** The commands fleetbot answers in pull request comments. Only the first line counts. */
export type Command = { kind: 'approve' } | { kind: 'approve-destroy'; fleet: string } | { kind: 'plan' };

export function parseCommand(body: string): Command | undefined {
  const firstLine = body.replace(/\r\n?/g, '\n').split('\n', 1)[0].trim();
  if (firstLine === '/approve') return { kind: 'approve' };
  if (firstLine === '/plan') return { kind: 'plan' };
  const destroy = /^\/approve destroy ([a-z0-9-]{1,40})$/.exec(firstLine);
  if (destroy) return { kind: 'approve-destroy', fleet: destroy[1] };
  return undefined;
}
