import { describe, expect, it } from 'vitest';
import { escapeControls, escapingIo } from './io.js';

describe('escapeControls', () => {
  const hostile = 'a\u001b[2K\r::error::x\u0000\u009b31m\u202Eevil\u2028\u2066\uFEFFb\ud800';

  it('writes every control, bidi and invisible character as its \\u escape, keeping line feeds and tabs', () => {
    expect(escapeControls(`${hostile}\n\tnext`)).toBe(
      'a\\u001b[2K\\u000d::error::x\\u0000\\u009b31m\\u202eevil\\u2028\\u2066\\ufeffb\ufffd\n\tnext',
    );
  });

  it('leaves JSON meaning the same string', () => {
    const json = JSON.stringify({ message: hostile.slice(0, -1), list: ['\u202E', '\\\u202E'] }, null, 2);
    const escaped = escapeControls(json);
    // eslint-disable-next-line no-control-regex -- looking for control characters is the point
    expect(escaped).not.toMatch(/[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u2028-\u202E\u2066-\u2069]/);
    expect(JSON.parse(escaped)).toEqual(JSON.parse(json));
  });

  it('is applied to both streams by escapingIo', () => {
    const out: string[] = [];
    const io = escapingIo({ stdout: (t) => out.push(`out:${t}`), stderr: (t) => out.push(`err:${t}`) });
    io.stdout('\u001b[31mred');
    io.stderr('\u202Eltr');
    expect(out).toEqual(['out:\\u001b[31mred', 'err:\\u202eltr']);
  });
});
