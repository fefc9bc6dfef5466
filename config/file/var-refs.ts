// Finding `${...}` references in a config string value, for interpolate.ts (the YAML tree) and
// fast-yaml.ts (the plain value), in one left-to-right pass. It reads exactly what the regex
// /\$\$\{|\$\{([^}]*)\}|\$\{/g read: "$${" (a literal "${"), "${" up to the first "}" after it,
// or a "${" with no "}" after it at all. The regex cost grew with the square of the value: at
// every "${" its `[^}]*` ran on to the next "}", to the value's end when none followed, so a
// config value of 20,000 "${" took 4.7 s to refuse, and an 8 MiB config hours
// (test/outside/complexity-config.test.ts). Here the "}" found is kept until passed.

/**
 * `text` with every reference replaced by `replace(whole, inner)`: `whole` is the reference as
 * written, `inner` what stands between "${" and "}" (undefined for "$${" and for a "${" left
 * unclosed), as String.prototype.replace hands a callback the regex's match and group.
 */
export function replaceVarRefs(
  text: string,
  replace: (whole: string, inner: string | undefined) => string,
): string {
  let out = "";
  let copied = 0;
  let close = 0; // the first "}" at or after the reference being read; -1: none left
  let at = text.indexOf("${");
  while (at >= 0) {
    let from = at;
    let end: number;
    let inner: string | undefined;
    if (at > 0 && text.charCodeAt(at - 1) === 0x24 /* $ */ && at - 1 >= copied) {
      from = at - 1; // "$${"
      end = at + 2;
    } else {
      if (close >= 0 && close < at + 2) close = text.indexOf("}", at + 2);
      if (close >= 0) {
        end = close + 1;
        inner = text.slice(at + 2, close);
      } else end = at + 2;
    }
    out += text.slice(copied, from) + replace(text.slice(from, end), inner);
    copied = end;
    at = text.indexOf("${", end);
  }
  return copied === 0 ? text : out + text.slice(copied);
}
