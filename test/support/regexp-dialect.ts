/**
 * One regular-expression dialect for policy files and CRDs: RE2, as Go's regexp parses it (the API server
 * checks `*RegExp` fields with CEL's `matches()`). Each pattern says whether RE2 accepts it; the unit tier
 * holds the policy compiler to this table, the chart tier holds the real kube-apiserver to it. Most refused
 * ones are valid JavaScript, which is what policy files used to accept.
 */
export interface DialectCase {
  readonly pattern: string;
  readonly valid: boolean;
  readonly why: string;
}

export const REGEXP_DIALECT: readonly DialectCase[] = [
  { pattern: '^https://github\\.com/acme/.+$', valid: true, why: 'plain pattern' },
  { pattern: 'refs/tags/v\\d+\\.\\d+\\.\\d+', valid: true, why: 'Perl classes' },
  { pattern: '(?i)https://GITHUB\\.com/.+', valid: true, why: 'leading flag group' },
  { pattern: 'https://(?i)GITHUB\\.com/.+', valid: true, why: 'flag group in the middle (RE2 only)' },
  { pattern: '(?i:ACME)/app', valid: true, why: 'scoped flag group' },
  { pattern: '(?s).+', valid: true, why: 'dot matches newline flag' },
  { pattern: '(?P<org>[a-z]+)/app', valid: true, why: 'Python-style named group (RE2 only)' },
  { pattern: '(?<org>[a-z]+)/app', valid: true, why: 'named group' },
  { pattern: '\\pL+', valid: true, why: 'one-letter Unicode class (RE2 only)' },
  { pattern: '\\p{Greek}+', valid: true, why: 'Unicode script' },
  { pattern: '[[:alpha:]]+', valid: true, why: 'POSIX class (RE2 only)' },
  { pattern: '\\Qa.b\\E', valid: true, why: 'quoted literal (RE2 only)' },
  { pattern: 'acme\\z', valid: true, why: 'end of text (RE2 only)' },
  { pattern: '\\x{41}', valid: true, why: 'braced hex escape (RE2 only)' },
  { pattern: 'a{2,5}', valid: true, why: 'bounded repetition' },
  { pattern: '(?=acme)', valid: false, why: 'lookahead' },
  { pattern: '(?!evil)acme', valid: false, why: 'negative lookahead' },
  { pattern: '(?<=a)b', valid: false, why: 'lookbehind' },
  { pattern: '(?<!a)b', valid: false, why: 'negative lookbehind' },
  { pattern: '(a)\\1', valid: false, why: 'backreference' },
  { pattern: '(?<n>a)\\k<n>', valid: false, why: 'named backreference' },
  { pattern: 'a*+', valid: false, why: 'possessive quantifier' },
  { pattern: 'a++', valid: false, why: 'possessive quantifier' },
  { pattern: 'a{2}{3}', valid: false, why: 'nested repetition' },
  { pattern: '\\u0041', valid: false, why: 'JavaScript \\u escape' },
  { pattern: '\\cA', valid: false, why: 'JavaScript control escape' },
  { pattern: 'acme\\Z', valid: false, why: '\\Z (in JavaScript a plain Z)' },
  { pattern: '\\8', valid: false, why: 'decimal escape' },
  { pattern: 'a{1001}', valid: false, why: 'repetition count above 1000' },
  { pattern: '(?x)a b', valid: false, why: 'extended-mode flag' },
  { pattern: '(?<n>a)(?<n>b)', valid: true, why: 'repeated group name (Go only; C++ RE2 refuses it)' },
  {
    pattern: '(?P<n>a)|[(?<n>]|(?P<n>b)',
    valid: true,
    why: 'repeated group name, one look-alike in a class',
  },
  { pattern: '(?<a-b>x)', valid: false, why: 'group name with a dash' },
  { pattern: '(?P=n)', valid: false, why: 'Python-style backreference' },
  { pattern: '(acme', valid: false, why: 'unclosed group' },
  { pattern: '[a-', valid: false, why: 'unclosed class' },
  { pattern: '*a', valid: false, why: 'nothing to repeat' },
];
