import { describe, expect, it } from 'vitest';
import { runCommand } from './commands.js';

async function audit(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCommand(['audit', ...argv], {
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
  });
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

describe('provenant audit flags', () => {
  it('prints its usage', async () => {
    const r = await audit(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: provenant audit');
    expect(r.stdout).toContain('--policy PATH');
  });

  it.each([
    [['--concurrency', '0'], '--concurrency must be a whole number from 1 to 64'],
    [['--concurrency', '1e3'], '--concurrency must be a whole number from 1 to 64'],
    [['--output', 'yaml'], '--output must be text or json'],
    [['--no-match', 'maybe'], '--no-match must be deny, allow or warn'],
    [['extra'], 'unexpected argument "extra"'],
    [['--kubeconfig', '/nonexistent/kubeconfig'], '--kubeconfig'],
  ])('refuses %j before touching a cluster (exit 2)', async (argv, message) => {
    const r = await audit(argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
  });
});
