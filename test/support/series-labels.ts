// The label values of a Prometheus text exposition, for leak checks after churn: which
// `pool`, `member`, `route` or `peer` values have any series at all. Label values are read
// with the exposition format's escapes (\\, \", \n), so a value holding a comma or a quote
// does not split into two.

export interface Sample {
  name: string;
  labels: Record<string, string>;
}

/** Every sample line of `text` (comments and blank lines skipped). Throws on a line it cannot read. */
export function samples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const brace = line.indexOf("{");
    const space = line.indexOf(" ");
    if (brace < 0 || (space >= 0 && space < brace)) {
      out.push({ name: line.slice(0, space), labels: {} });
      continue;
    }
    const labels: Record<string, string> = {};
    let i = brace + 1;
    while (line[i] !== "}") {
      const eq = line.indexOf("=", i);
      if (eq < 0 || line[eq + 1] !== '"') throw new Error(`unreadable sample line: ${line}`);
      const key = line.slice(i, eq);
      let value = "";
      let j = eq + 2;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === "\\") {
          j++;
          value += line[j] === "n" ? "\n" : line[j];
        } else value += line[j];
      }
      if (j >= line.length) throw new Error(`unterminated label value: ${line}`);
      labels[key] = value;
      i = j + 1;
      if (line[i] === ",") i++;
    }
    out.push({ name: line.slice(0, brace), labels });
  }
  return out;
}

/** "metric{label=value}" for every sample whose `label` is one of `values` (for a failure message). */
export function seriesWith(text: string, label: string, values: ReadonlySet<string>): string[] {
  const hits: string[] = [];
  for (const s of samples(text)) {
    const v = s.labels[label];
    if (v !== undefined && values.has(v)) hits.push(`${s.name}{${label}="${v}"}`);
  }
  return [...new Set(hits)].sort();
}

/** The distinct values `label` takes across all series. */
export function labelValues(text: string, label: string): Set<string> {
  const out = new Set<string>();
  for (const s of samples(text)) {
    const v = s.labels[label];
    if (v !== undefined) out.add(v);
  }
  return out;
}
