/** Where a command writes; tests pass collectors, main.ts passes the process streams. */
export interface CommandIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

/** Exit statuses shared by every command. */
export const EXIT = { allowed: 0, denied: 1, invalidInput: 2 } as const;
