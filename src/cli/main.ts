#!/usr/bin/env node
import * as nodeModule from 'node:module';

// Later runs reuse V8's compiled code for the modules below (in the OS temp folder; NODE_DISABLE_COMPILE_CACHE=1
// turns it off). Where that folder is not writable the cache is simply not used.
nodeModule.enableCompileCache?.();
const { runCommand } = await import('./commands.js');

// The composition root for the command line: every command reads real files and talks to real registries.
const code = await runCommand(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  stderr: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
});
process.exitCode = code;
