import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packageRoot } from '../package-root.js';
import { readIssueForm, type IssueForm } from './form.js';
import { requestFormAsRead } from './request.js';

/**
 * The issue forms people file requests with; the parser reads the same files GitHub renders (the request
 * form also with the CI systems it no longer offers: see requestFormAsRead).
 */
export async function loadIssueForms(dir = join(packageRoot(), 'issue-templates')): Promise<{ request: IssueForm; delete: IssueForm }> {
  const [request, deletion] = await Promise.all([
    readFile(join(dir, 'request-fleet.yml'), 'utf8'),
    readFile(join(dir, 'delete-fleet.yml'), 'utf8'),
  ]);
  return { request: requestFormAsRead(readIssueForm(request)), delete: readIssueForm(deletion) };
}
