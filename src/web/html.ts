/**
 * HTML built by a tagged template that escapes every interpolated value, so a label, a fleet name or a
 * repository (all written by users) can never become markup. Markup built here is wrapped in `Html` and
 * passes through as it is; arrays are joined. The tag is `markup`, not `html`: prettier reformats
 * `html` templates as HTML, which would change the page's script (whose hash the CSP names) and its text.
 */
export class Html {
  constructor(readonly text: string) {}

  toString(): string {
    return this.text;
  }
}

type Interpolated = Html | string | number | boolean | null | undefined | readonly Interpolated[];

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => ENTITIES[character]!);
}

function render(value: Interpolated): string {
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === null || value === undefined || value === false) return '';
  return escapeHtml(String(value));
}

export function markup(strings: TemplateStringsArray, ...values: Interpolated[]): Html {
  let text = strings[0]!;
  values.forEach((value, index) => (text += render(value) + strings[index + 1]!));
  return new Html(text);
}
