// The metric selectors of a PromQL expression as Grafana stores it (with `$var`, `${var}` and
// `$__rate_interval` in it), for checking a dashboard's queries against what tsim exports.
// A small lexer, not a parser: it knows enough of PromQL to tell a metric name from a
// function, an aggregation keyword, a label name (inside `{}` and after `by`, `without`, `on`,
// `ignoring`, `group_left`, `group_right`), a number or duration, a string and a variable, and
// it throws on what it cannot read (so a query it does not understand fails instead of passing).

export interface Selector {
  /** The metric name as written (`tsim_x_bucket` for a histogram's buckets). */
  name: string;
  /** The text between the braces after the name, or undefined when there are none. */
  matchers: string | undefined;
}

export class PromqlError extends Error {}

/** Words that are never metric names: aggregation operators, binary keywords, modifiers, literals. */
const KEYWORDS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
  'limitk',
  'limit_ratio',
  'and',
  'or',
  'unless',
  'atan2',
  'bool',
  'offset',
  'inf',
  'nan',
]);
/** Keywords followed by a parenthesised list of label names. */
const LABEL_LISTS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

const IDENT = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
const NUMBER = /(?:0[xX][0-9a-fA-F]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)[a-zA-Z0-9_]*/y;
const OPERATORS = '+-*/%^=!<>,@';

/** The index just past a match of the sticky `re` at `from`, or -1. */
function matchAt(re: RegExp, text: string, from: number): number {
  re.lastIndex = from;
  return re.test(text) ? re.lastIndex : -1;
}

/** Every metric selector in `expr`, in order. Throws PromqlError on text it cannot read. */
export function metricSelectors(expr: string): Selector[] {
  const out: Selector[] = [];
  let i = 0;
  let depth = 0;
  /** The selector just read, which a `{…}` may complete. */
  let last: Selector | undefined;
  const fail = (what: string): never => {
    throw new PromqlError(`${what} at offset ${i} of ${JSON.stringify(expr)}`);
  };
  /** Index just past the closing `close` of the group opened at `from`, skipping strings. */
  const skipGroup = (from: number, close: string): number => {
    let j = from + 1;
    while (j < expr.length && expr[j] !== close) j = expr[j] === '"' || expr[j] === "'" || expr[j] === '`' ? skipString(j) : j + 1;
    if (j >= expr.length) fail(`unclosed ${expr[from]}`);
    return j + 1;
  };
  const skipString = (from: number): number => {
    const quote = expr[from];
    let j = from + 1;
    while (j < expr.length && expr[j] !== quote) j += quote !== '`' && expr[j] === '\\' ? 2 : 1;
    if (j >= expr.length) {
      i = from;
      fail('unterminated string');
    }
    return j + 1;
  };
  const nextNonSpace = (from: number): number => {
    let j = from;
    while (j < expr.length && /\s/.test(expr[j])) j++;
    return j;
  };

  while (i < expr.length) {
    const c = expr[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const selector = last;
    last = undefined;
    if (c === '#') {
      const nl = expr.indexOf('\n', i);
      i = nl < 0 ? expr.length : nl + 1;
    } else if (c === '"' || c === "'" || c === '`') {
      i = skipString(i);
    } else if (c === '{') {
      const end = skipGroup(i, '}');
      const matchers = expr.slice(i + 1, end - 1);
      // A selector without a name (or naming it by __name__) would hide the metric from this check.
      if (selector === undefined || selector.matchers !== undefined) fail('label matchers without a metric name');
      if (/\b__name__\b/.test(matchers)) fail('a metric selected by __name__');
      selector!.matchers = matchers;
      i = end;
    } else if (c === '[') {
      // A range or subquery: durations, `:` and Grafana's interval variables.
      const end = skipGroup(i, ']');
      if (!/^[\s0-9a-zA-Z_:${}.]*$/.test(expr.slice(i + 1, end - 1))) fail('not a range');
      i = end;
    } else if (c === '$') {
      // A Grafana variable: ${name} or $name.
      if (expr[i + 1] === '{') i = skipGroup(i + 1, '}');
      else if (matchAt(IDENT, expr, i + 1) > 0) i = matchAt(IDENT, expr, i + 1);
      else fail('a $ without a variable name');
    } else if (c === '(') {
      depth++;
      i++;
    } else if (c === ')') {
      if (--depth < 0) fail('unbalanced )');
      i++;
    } else if (OPERATORS.includes(c)) {
      i++;
    } else if (matchAt(NUMBER, expr, i) > 0) {
      i = matchAt(NUMBER, expr, i);
    } else if (matchAt(IDENT, expr, i) > 0) {
      const word = expr.slice(i, matchAt(IDENT, expr, i));
      i += word.length;
      const next = nextNonSpace(i);
      if (LABEL_LISTS.has(word)) {
        // by/without/on/ignoring take a label list; group_left/group_right may.
        if (expr[next] === '(') i = skipGroup(next, ')');
        else if (word !== 'group_left' && word !== 'group_right') fail(`${word} without a label list`);
      } else if (expr[next] === '(' || KEYWORDS.has(word)) {
        // A function call or an aggregation: not a metric.
      } else {
        last = { name: word, matchers: undefined };
        out.push(last);
      }
    } else {
      fail(`unexpected ${JSON.stringify(c)}`);
    }
  }
  if (depth !== 0) fail('unbalanced (');
  return out;
}
