/**
 * What the Helm chart gives `provenant serve` in a cluster, for running it as a local process against the
 * harness's API server: the container's exact arguments, the webhook configurations, and a kubeconfig
 * with exactly the chart's permissions (the admin impersonating the chart's ServiceAccount).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { load } from 'js-yaml';
import { toolPath, type Cluster } from '../../e2e/harness/index.js';
import { removeOnExit } from '../../e2e/harness/process.js';
import { CHART_SERVICE_ACCOUNT, kubeConfigFor, RELEASE } from '../kube/helpers.js';

const CHART_DIR = fileURLToPath(new URL('../../../charts/provenant', import.meta.url));

/** `helm template` of the test release, limited to `template`, with `--set` values. */
export async function renderChart(template: string, values: readonly string[] = []): Promise<string> {
  const { stdout } = await promisify(execFile)(toolPath('helm'), [
    'template',
    RELEASE.name,
    CHART_DIR,
    '--namespace',
    RELEASE.namespace,
    '--show-only',
    template,
    ...values.flatMap((v) => ['--set', v]),
  ]);
  return stdout;
}

/** The arguments the chart's Deployment passes to the container (`serve --kubernetes …`). */
export async function chartServeArgs(values: readonly string[] = []): Promise<string[]> {
  const deployment = load(await renderChart('templates/deployment.yaml', values)) as {
    spec: { template: { spec: { containers: { name: string; args: string[] }[] } } };
  };
  const container = deployment.spec.template.spec.containers.find((c) => c.name === 'provenant');
  if (container === undefined) throw new Error('the chart renders no provenant container');
  return container.args;
}

/** Drops `--flag value` pairs from an argument list. */
export function withoutFlags(args: readonly string[], flags: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (flags.includes(arg)) i++;
    else out.push(arg);
  }
  return out;
}

/** A kubeconfig file for the harness cluster as the chart's ServiceAccount, so serve has the chart's RBAC. */
export async function chartKubeconfig(cluster: Cluster): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'provenant-kubeconfig-'));
  removeOnExit(dir);
  const path = join(dir, 'kubeconfig');
  await writeFile(path, kubeConfigFor(cluster, { as: CHART_SERVICE_ACCOUNT }).exportConfig(), {
    mode: 0o600,
  });
  return path;
}
