// A subset of Consul's filter language (go-bexpr) over /v1/health/service entries, enough
// for what shardgate sends: selectors Node.{Node,Address,Datacenter,Meta.k},
// Service.{ID,Service,Address,Port,Tags,Meta.k}, Checks.{Status,CheckID} (any check), the
// operators == != contains "not contains" in "not in" "is empty" "is not empty" matches,
// and "and"/"or"/"not" with parentheses. Anything else is a parse error (a 400, as in Consul).

export class FilterError extends Error {}

type Value = string | number | boolean | string[] | Record<string, string> | undefined;
export type Predicate = (entry: HealthEntryLike) => boolean;

export interface HealthEntryLike {
  Node: { Node: string; Address: string; Datacenter: string; Meta: Record<string, string> };
  Service: {
    ID: string;
    Service: string;
    Address: string;
    Port: number;
    Tags: string[];
    Meta: Record<string, string>;
  };
  Checks: { Status: string; CheckID: string }[];
}

type Token = { kind: "str" | "num" | "word" | "op" | "lp" | "rp"; text: string };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (c === " " || c === "\t" || c === "\n") {
      i++;
    } else if (c === "(") {
      out.push({ kind: "lp", text: c });
      i++;
    } else if (c === ")") {
      out.push({ kind: "rp", text: c });
      i++;
    } else if (c === '"' || c === "`") {
      let j = i + 1;
      let s = "";
      while (j < src.length && src[j] !== c) {
        if (c === '"' && src[j] === "\\" && j + 1 < src.length) j++;
        s += src[j];
        j++;
      }
      if (j >= src.length) throw new FilterError(`unterminated string starting at ${i}`);
      out.push({ kind: "str", text: s });
      i = j + 1;
    } else if (src.startsWith("==", i) || src.startsWith("!=", i)) {
      out.push({ kind: "op", text: src.slice(i, i + 2) });
      i += 2;
    } else if (/[0-9-]/.test(c)) {
      const m = /^-?[0-9]+(\.[0-9]+)?/.exec(src.slice(i));
      if (m === null) throw new FilterError(`unexpected "${c}" at ${i}`);
      out.push({ kind: "num", text: m[0] });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_.\-/]*/.exec(src.slice(i)) as RegExpExecArray;
      out.push({ kind: "word", text: m[0] });
      i += m[0].length;
    } else {
      throw new FilterError(`unexpected "${c}" at ${i}`);
    }
  }
  return out;
}

function select(entry: HealthEntryLike, path: string[]): Value {
  const [root, field, key] = path;
  if (root === "Node") {
    if (field === "Meta" && key !== undefined && path.length === 3) return entry.Node.Meta?.[key];
    if (path.length === 2 && (field === "Node" || field === "Address" || field === "Datacenter")) {
      return entry.Node[field];
    }
    if (path.length === 2 && field === "Meta") return entry.Node.Meta;
  } else if (root === "Service") {
    if (field === "Meta" && key !== undefined && path.length === 3) return entry.Service.Meta?.[key];
    if (path.length === 2) {
      switch (field) {
        case "ID":
        case "Service":
        case "Address":
        case "Port":
        case "Tags":
        case "Meta":
          return entry.Service[field];
      }
    }
  }
  return undefined;
}

const KNOWN =
  /^(Node\.(Node|Address|Datacenter|Meta(\.[^.]+)?)|Service\.(ID|Service|Address|Port|Tags|Meta(\.[^.]+)?)|Checks\.(Status|CheckID))$/;

function literal(t: Token | undefined): string | number {
  if (t === undefined) throw new FilterError("expected a value at end of expression");
  if (t.kind === "str") return t.text;
  if (t.kind === "num") return Number(t.text);
  if (t.kind === "word" && (t.text === "true" || t.text === "false")) return t.text;
  throw new FilterError(`expected a value, got "${t.text}"`);
}

function eq(a: Value, b: string | number): boolean {
  if (a === undefined) return false;
  if (typeof a === "number") return a === Number(b);
  if (typeof a === "boolean") return String(a) === String(b);
  if (typeof a === "string") return a === String(b);
  return false;
}

function contains(coll: Value, v: string | number): boolean {
  if (Array.isArray(coll)) return coll.includes(String(v));
  if (typeof coll === "string") return coll.includes(String(v));
  if (coll !== null && typeof coll === "object") return Object.hasOwn(coll, String(v));
  return false;
}

function isEmpty(v: Value): boolean {
  if (v === undefined || v === "") return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === "object") return Object.keys(v).length === 0;
  return false;
}

class Parser {
  private i = 0;
  constructor(private readonly toks: Token[]) {}

  parse(): Predicate {
    if (this.toks.length === 0) throw new FilterError("empty expression");
    const p = this.or();
    if (this.i < this.toks.length) throw new FilterError(`unexpected "${this.toks[this.i].text}"`);
    return p;
  }

  private peekWord(w: string): boolean {
    const t = this.toks[this.i];
    return t !== undefined && t.kind === "word" && t.text === w;
  }

  private or(): Predicate {
    let left = this.and();
    while (this.peekWord("or")) {
      this.i++;
      const l = left;
      const r = this.and();
      left = (e) => l(e) || r(e);
    }
    return left;
  }

  private and(): Predicate {
    let left = this.unary();
    while (this.peekWord("and")) {
      this.i++;
      const l = left;
      const r = this.unary();
      left = (e) => l(e) && r(e);
    }
    return left;
  }

  private unary(): Predicate {
    if (this.peekWord("not")) {
      this.i++;
      const inner = this.unary();
      return (e) => !inner(e);
    }
    const t = this.toks[this.i];
    if (t?.kind === "lp") {
      this.i++;
      const inner = this.or();
      if (this.toks[this.i]?.kind !== "rp") throw new FilterError("missing )");
      this.i++;
      return inner;
    }
    return this.match();
  }

  private selector(): string[] {
    const t = this.toks[this.i++];
    if (t === undefined || t.kind !== "word")
      throw new FilterError(`expected a selector, got "${t?.text ?? "end"}"`);
    if (!KNOWN.test(t.text)) throw new FilterError(`Selector "${t.text}" is not valid`);
    return t.text.split(".");
  }

  private match(): Predicate {
    const t = this.toks[this.i];
    // value in Selector / value not in Selector
    if (t !== undefined && (t.kind === "str" || t.kind === "num")) {
      this.i++;
      const v = literal(t);
      let negate = false;
      if (this.peekWord("not")) {
        this.i++;
        negate = true;
      }
      if (!this.peekWord("in")) throw new FilterError(`expected "in" after ${JSON.stringify(v)}`);
      this.i++;
      const path = this.selector();
      return this.over(path, (val) => contains(val, v) !== negate);
    }
    const path = this.selector();
    const op = this.toks[this.i++];
    if (op === undefined) throw new FilterError(`expected an operator after ${path.join(".")}`);
    if (op.kind === "op") {
      const v = literal(this.toks[this.i++]);
      const want = op.text === "==";
      return this.over(path, (val) => eq(val, v) === want);
    }
    if (op.kind === "word") {
      if (op.text === "contains") {
        const v = literal(this.toks[this.i++]);
        return this.over(path, (val) => contains(val, v));
      }
      if (op.text === "matches") {
        const v = literal(this.toks[this.i++]);
        let re: RegExp;
        try {
          re = new RegExp(String(v));
        } catch {
          throw new FilterError(`invalid regular expression ${JSON.stringify(v)}`);
        }
        return this.over(path, (val) => typeof val === "string" && re.test(val));
      }
      if (op.text === "not" && this.peekWord("contains")) {
        this.i++;
        const v = literal(this.toks[this.i++]);
        return this.over(path, (val) => !contains(val, v));
      }
      if (op.text === "is") {
        let negate = false;
        if (this.peekWord("not")) {
          this.i++;
          negate = true;
        }
        if (!this.peekWord("empty")) throw new FilterError('expected "empty" after "is"');
        this.i++;
        return this.over(path, (val) => isEmpty(val) !== negate);
      }
    }
    throw new FilterError(`unknown operator "${op.text}"`);
  }

  /** Checks.X selectors match when any check matches, as bexpr does over a slice. */
  private over(path: string[], test: (v: Value) => boolean): Predicate {
    if (path[0] === "Checks") {
      const field = path[1] as "Status" | "CheckID";
      return (e) => e.Checks.some((c) => test(c[field]));
    }
    return (e) => test(select(e, path));
  }
}

/** Compiles a filter expression; throws FilterError with a readable reason. */
export function compileFilter(expression: string): Predicate {
  return new Parser(tokenize(expression)).parse();
}
