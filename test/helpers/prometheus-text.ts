/** Reads one sample out of Prometheus' text format, as a scraper would: the series named, with exactly these labels. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => `${key}="${value}"`)
    .join(',');
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const given = (match[2] ?? '')
      .split(/,(?=[a-zA-Z_]+=")/)
      .filter((pair) => pair !== '')
      .sort()
      .join(',');
    if (given === wanted) return Number(match[3]);
  }
  return undefined;
}
