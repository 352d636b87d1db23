/**
 * The keys that appear more than once in one object of a JSON text, as `path.key`. JSON.parse keeps
 * the last silently, so this reads the text itself.
 */
export function duplicateKeys(text: string): string[] {
  let at = 0;
  const found: string[] = [];
  const space = () => {
    while (/\s/.test(text[at] ?? '')) at++;
  };
  const string = (): string => {
    const start = at;
    at++;
    while (text[at] !== '"') at += text[at] === '\\' ? 2 : 1;
    at++;
    return JSON.parse(text.slice(start, at)) as string;
  };
  const value = (path: string): void => {
    space();
    const char = text[at];
    if (char === '{') {
      at++;
      const seen = new Set<string>();
      space();
      while (text[at] !== '}') {
        space();
        const key = string();
        if (seen.has(key)) found.push(`${path}${key}`);
        seen.add(key);
        space();
        at++; // :
        value(`${path}${key}.`);
        space();
        if (text[at] === ',') at++;
        space();
      }
      at++;
    } else if (char === '[') {
      at++;
      space();
      while (text[at] !== ']') {
        value(`${path}[].`);
        space();
        if (text[at] === ',') at++;
        space();
      }
      at++;
    } else if (char === '"') {
      string();
    } else {
      while (at < text.length && !/[,\]}\s]/.test(text[at])) at++;
    }
  };
  JSON.parse(text); // throws on text that is not JSON
  value('');
  return found;
}
