// Prometheus text exposition parsed into samples (name, labels, value), for tests that add
// series up rather than read one line: label values may hold escaped quotes, commas and
// braces, so a sample line is read character by character, not split on ",".

export interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Every sample of `text` (comments and blank lines skipped); throws on a line it cannot read. */
export function parsePromSamples(text: string): PromSample[] {
  const out: PromSample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    out.push(parseSampleLine(line));
  }
  return out;
}

function parseSampleLine(line: string): PromSample {
  const nameEnd = line.search(/[{ ]/);
  if (nameEnd <= 0) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
  const name = line.slice(0, nameEnd);
  const labels: Record<string, string> = {};
  let i = nameEnd;
  if (line[i] === "{") {
    i++;
    while (line[i] !== "}") {
      const eq = line.indexOf("=", i);
      if (eq < 0 || line[eq + 1] !== '"') throw new Error(`bad labels in ${JSON.stringify(line)}`);
      const key = line.slice(i, eq);
      let value = "";
      let j = eq + 2;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === "\\") {
          j++;
          value += line[j] === "n" ? "\n" : line[j];
        } else value += line[j];
      }
      if (j >= line.length) throw new Error(`unterminated label value in ${JSON.stringify(line)}`);
      labels[key] = value;
      i = j + 1;
      if (line[i] === ",") i++;
    }
    i++;
  }
  const rest = line.slice(i).trim().split(/\s+/)[0];
  // Go's ParseFloat, which Prometheus reads values with, takes NaN and Inf in any case (prom-client writes "Nan").
  const word = rest?.toLowerCase();
  const value = word === "+inf" || word === "inf" ? Infinity : word === "-inf" ? -Infinity : Number(rest);
  if (rest === undefined || (Number.isNaN(value) && word !== "nan"))
    throw new Error(`bad value in ${JSON.stringify(line)}`);
  return { name, labels, value };
}

/** The sum of `name`'s samples whose labels include every pair of `match`. */
export function sumOf(
  samples: readonly PromSample[],
  name: string,
  match: Record<string, string> = {},
): number {
  let total = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) total += s.value;
  }
  return total;
}
