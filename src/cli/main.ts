#!/usr/bin/env node
import { runCommand } from './commands.js';

// The composition root for the command line: every command reads real files and talks to real registries.
const code = await runCommand(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  stderr: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
});
process.exitCode = code;
