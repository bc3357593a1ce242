/** Where a command writes; tests pass collectors, main.ts passes the process streams. */
export interface CommandIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

/** Exit statuses shared by every command. */
export const EXIT = { allowed: 0, denied: 1, invalidInput: 2 } as const;

// Every control character but the line feed and the tab (escape sequences, carriage returns, NUL, C1 codes such
// as U+009B, which some terminals read as an escape sequence's start), bidi overrides and isolates, zero-width
// characters, line and paragraph separators and the BOM.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u200B-\u200F\u2028-\u202E\u2060-\u2069\uFEFF]/g;

/**
 * Output that reaches a terminal or a CI log quotes what outsiders wrote: manifests' names, images, registry
 * and signature contents. Each character that could move the cursor, recolour, rewrite or reorder what is
 * shown is written as its `\uXXXX` escape, which in JSON output is the same string and in text output is
 * visible. Line feeds stay: each command keeps outsiders' line breaks out of its own fields.
 */
export function escapeControls(text: string): string {
  return text.toWellFormed().replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `io` with every write passed through `escapeControls`. */
export function escapingIo(io: CommandIo): CommandIo {
  return {
    stdout: (text) => io.stdout(escapeControls(text)),
    stderr: (text) => io.stderr(escapeControls(text)),
  };
}
