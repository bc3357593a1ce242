import { loadAll } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { yamlErrorMessage } from './yaml-error.js';

function errorOf(text: string): unknown {
  try {
    loadAll(text, { filename: 'f.yaml' });
  } catch (err) {
    return err;
  }
  throw new Error('parsed');
}

describe('yamlErrorMessage', () => {
  it('gives the reason and the position, and no line of the file', () => {
    const err = errorOf('TOKEN=very-secret-value\u0000OTHER=1\n');
    expect((err as Error).message).toContain('very-secret-value');
    expect(yamlErrorMessage(err)).toBe('null byte is not allowed in input (line 1, column 24)');
  });

  it('keeps the first line of any other error', () => {
    expect(yamlErrorMessage(new Error('cannot read\nmore'))).toBe('cannot read');
    expect(yamlErrorMessage('text')).toBe('text');
  });
});
