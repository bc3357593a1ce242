import type { ASTNode, Environment } from '@marcbachmann/cel-js';
import type { RE2JS } from 're2js';
import { lazyRequire } from '../lazy-require.js';
import { compileRe2 } from '../verify/policy-regexp.js';
import type { CompiledCondition, ConditionInput, ConditionResult } from './types.js';

/**
 * CEL conditions over an attestation. CEL has no loops beyond the list macros and no I/O, but a macro nested
 * in a macro over attacker-sized lists is quadratic: an SBOM with 10,000 packages and `all(a, all(b, …))` would
 * stall admission. The library has no runtime cost meter, so the bound is static, as Kubernetes' CEL cost
 * estimate is: macros nest at most two deep (checked when the policy compiles) and, before each evaluation,
 * (AST nodes) × (elements in the statement)^(nesting) must stay under `CEL_COST_LIMIT`, where a membership
 * test over a non-literal list counts as one more level (see measureAst).
 */
export const CEL_COST_LIMIT = 2_000_000;
/**
 * CEL's `matches()` is RE2 (as in cel-go and the API server); the CEL library runs JavaScript's backtracking
 * RegExp instead, where a pattern as plain as `.*.*.*=.*;` takes 12 s on a 200-character string and grows
 * with its fourth power, on the event loop every admission shares. So every `matches()` call is bound, when
 * its condition compiles, to a function of ours that runs RE2 (linear in the string). Patterns must be
 * literals, compiled and checked with the policy. A call's cost still grows with the string it reads, and
 * CEL_COST_LIMIT counts calls, not characters: an attestation holding a string longer than this is
 * refused before a condition that calls `matches()` runs on it.
 */
export const MATCHES_MAX_INPUT = 4096;
// The name `matches()` calls are bound to. `$` cannot appear in a CEL identifier, so no expression can call
// it by name, bypassing the literal-pattern check.
const RE2_MATCHES = 'matches$re2';
// Compiled patterns of the conditions compiled so far; cleared when full (policies come and go).
const MAX_CACHED_PATTERNS = 1024;
const re2Patterns = new Map<string, RE2JS>();
const MAX_MACRO_NESTING = 2;
const LIMITS = {
  maxAstNodes: 512,
  maxDepth: 32,
  maxListElements: 256,
  maxMapEntries: 64,
  maxCallArguments: 8,
};
const MACROS = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);

// Building an environment is costly and it never changes: one for every condition of every policy, built
// when the first condition compiles. The CEL library itself is loaded then too, not with the policy
// compiler: most runs (`provenant verify` among them) have no condition, and it costs ~12 ms to load.
const celJs = lazyRequire<typeof import('@marcbachmann/cel-js')>('@marcbachmann/cel-js');
let environment: Environment | undefined;
function celEnvironment(): Environment {
  if (environment === undefined) {
    environment = new (celJs().Environment)({ limits: LIMITS })
      .registerVariable('predicate', 'dyn')
      .registerVariable('statement', 'dyn')
      .registerVariable('image', 'map<string, string>')
      .registerFunction({ ...RE2_OVERLOAD, receiverType: 'string', params: [{ type: 'string' }] })
      .registerFunction({ ...RE2_OVERLOAD, params: [{ type: 'string' }, { type: 'string' }] });
  }
  return environment;
}

/** Compiles one condition; throws an Error saying what is wrong (syntax, types, nesting) for the policy author. */
export function compileCondition(expression: string, message?: string): CompiledCondition {
  let parsed: ReturnType<Environment['parse']>;
  try {
    parsed = celEnvironment().parse(expression);
  } catch (err) {
    throw new Error(`does not parse: ${describeCelError(err)}`, { cause: err });
  }
  // Bound before the type check, which picks each call's overload by name.
  const matchesCalls = bindMatchesToRe2(parsed.ast);
  const checked = parsed.check();
  if (!checked.valid) throw new Error(`does not type-check: ${describeCelError(checked.error)}`);
  if (checked.type !== 'bool' && checked.type !== 'dyn') {
    throw new Error(`yields ${checked.type ?? 'an unknown type'}, not bool`);
  }
  const shape = measureAst(parsed.ast);
  if (shape.nesting > MAX_MACRO_NESTING) {
    throw new Error(`nests list macros ${shape.nesting} deep; at most ${MAX_MACRO_NESTING} are allowed`);
  }

  const evaluate = (input: ConditionInput): ConditionResult => {
    if (matchesCalls > 0) {
      const longest = longestString(input.statement, MATCHES_MAX_INPUT);
      if (longest > MATCHES_MAX_INPUT) {
        return {
          ok: false,
          problem: `uses matches(), which reads strings of at most ${MATCHES_MAX_INPUT.toLocaleString('en')} characters; this attestation holds a longer one`,
        };
      }
    }
    if (shape.costNesting > 0) {
      const size = Math.max(1, countElements(input.statement, CEL_COST_LIMIT));
      const cost = shape.nodes * size ** shape.costNesting;
      if (cost > CEL_COST_LIMIT) {
        return {
          ok: false,
          problem: `would cost about ${Math.round(cost).toLocaleString('en')} steps on this attestation (${size} elements), more than the limit of ${CEL_COST_LIMIT.toLocaleString('en')}`,
        };
      }
    }
    let value: unknown;
    try {
      value = parsed({
        predicate: input.statement.predicate ?? null,
        statement: input.statement,
        image: { digest: input.image.digest, reference: input.image.reference },
      });
    } catch (err) {
      return { ok: false, problem: `could not be evaluated: ${describeCelError(err)}` };
    }
    if (value === true) return { ok: true };
    if (value === false) return { ok: false, problem: 'is false' };
    return { ok: false, problem: `yields ${typeof value}, not a bool` };
  };
  return { expression, ...(message !== undefined ? { message } : {}), evaluate };
}

function describeCelError(err: unknown): string {
  if (err instanceof Error) {
    const { summary, range } = err as Error & { summary?: string; range?: { start: number } };
    const text = (summary ?? err.message.split('\n')[0] ?? err.message).replaceAll(RE2_MATCHES, 'matches');
    return range === undefined ? text : `${text} (at offset ${range.start})`;
  }
  return String(err);
}

/**
 * Binds every `matches()` call (`s.matches(p)` or `matches(s, p)`) to RE2 and returns how many there are;
 * throws when one is not a string literal: a pattern taken from the attestation would be compiled on every
 * admission, and could not be checked when the policy is.
 */
function bindMatchesToRe2(root: ASTNode): number {
  let calls = 0;
  const stack: ASTNode[] = [root];
  while (stack.length > 0) {
    const node = stack.pop() as ASTNode;
    if ((node.op === 'rcall' || node.op === 'call') && node.args[0] === 'matches') {
      const args = node.op === 'rcall' ? (node.args[2] as ASTNode[]) : (node.args[1] as ASTNode[]);
      const pattern = args[args.length - 1];
      if (pattern?.op !== 'value' || typeof pattern.args !== 'string') {
        throw new Error('matches() takes a string literal as its pattern');
      }
      re2Pattern(pattern.args);
      calls++;
      (node.args as unknown[])[0] = RE2_MATCHES;
    }
    stack.push(...childNodes(node.args));
  }
  return calls;
}

/** `pattern` compiled, from the cache when a condition compiled it before; throws saying why it is invalid. */
function re2Pattern(pattern: string): RE2JS {
  let compiled = re2Patterns.get(pattern);
  if (compiled === undefined) {
    try {
      compiled = compileRe2(pattern);
    } catch (err) {
      throw new Error(
        `matches() pattern ${JSON.stringify(pattern)} is not a valid regular expression (RE2 syntax): ${(err as Error).message}`,
        { cause: err },
      );
    }
    if (re2Patterns.size >= MAX_CACHED_PATTERNS) re2Patterns.clear();
    re2Patterns.set(pattern, compiled);
  }
  return compiled;
}

// CEL's `matches()`: true when the pattern matches any part of the string (Go's MatchString).
const RE2_OVERLOAD = {
  name: RE2_MATCHES,
  returnType: 'bool',
  handler: (text: string, pattern: string): boolean => re2Pattern(pattern).test(text),
};

/** The length of the longest string in `value`, looking no further once one exceeds `cap`. */
export function longestString(value: unknown, cap: number): number {
  let longest = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0 && longest <= cap) {
    const item = stack.pop();
    if (typeof item === 'string') longest = Math.max(longest, item.length);
    else if (Array.isArray(item)) for (const child of item) stack.push(child);
    else if (typeof item === 'object' && item !== null) {
      for (const [key, child] of Object.entries(item)) {
        longest = Math.max(longest, key.length);
        stack.push(child);
      }
    }
  }
  return longest;
}

/**
 * AST size; how deep list macros nest (a macro's receiver runs once; its predicate once per element); and how
 * deep passes over the statement's elements nest for the cost estimate, which counts, besides the macros, a
 * membership test `x in y` over anything but a literal list: it scans y, so `a.exists(x, x in b)` is as
 * quadratic as two nested macros.
 */
export function measureAst(root: ASTNode): { nodes: number; nesting: number; costNesting: number } {
  let nodes = 0;
  const visit = (node: ASTNode): { nesting: number; cost: number } => {
    nodes++;
    if (node.op === 'value' || node.op === 'id') return { nesting: 0, cost: 0 };
    if (node.op === 'rcall') {
      const [name, receiver, args] = node.args;
      const inner = deepest(args.map(visit));
      const outer = visit(receiver);
      const step = MACROS.has(name) ? 1 : 0;
      return {
        nesting: Math.max(outer.nesting, inner.nesting + step),
        cost: Math.max(outer.cost, inner.cost + step),
      };
    }
    const children = deepest(childNodes(node.args).map(visit));
    const scans = node.op === 'in' && (node.args as ASTNode[])[1]?.op !== 'list';
    return scans ? { nesting: children.nesting, cost: children.cost + 1 } : children;
  };
  const { nesting, cost } = visit(root);
  return { nodes, nesting, costNesting: cost };
}

function deepest(shapes: readonly { nesting: number; cost: number }[]): { nesting: number; cost: number } {
  return {
    nesting: Math.max(0, ...shapes.map((s) => s.nesting)),
    cost: Math.max(0, ...shapes.map((s) => s.cost)),
  };
}

function childNodes(args: unknown): ASTNode[] {
  const found: ASTNode[] = [];
  const stack: unknown[] = [args];
  while (stack.length > 0) {
    const item = stack.pop();
    if (Array.isArray(item)) stack.push(...item);
    else if (isAstNode(item)) found.push(item);
  }
  return found;
}

function isAstNode(value: unknown): value is ASTNode {
  return typeof value === 'object' && value !== null && 'op' in value && 'args' in value;
}

/** List elements plus map entries in `value`, counting no further than `cap`. */
export function countElements(value: unknown, cap: number): number {
  let count = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0 && count <= cap) {
    const item = stack.pop();
    // Push one at a time: spreading a list of 100,000 SBOM packages would overflow the argument limit.
    const children = Array.isArray(item)
      ? item
      : typeof item === 'object' && item !== null
        ? Object.values(item)
        : [];
    count += children.length;
    for (const child of children) stack.push(child);
  }
  return count;
}
