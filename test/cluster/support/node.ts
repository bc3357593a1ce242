// A single-node Kubernetes cluster on this machine, for the cluster tier: the e2e tier's etcd and
// kube-apiserver plus kube-controller-manager, kube-scheduler, kubelet and kube-proxy (built from the same
// pinned k8s.io/kubernetes by test/tools/install-go-tools.sh), containerd and runc and the CNI bridge plugin
// from Debian (test/tools/install-cluster-tools.sh).
//
// Network: everything lives on addresses this harness creates and removes. The node is a bridge of its own
// (NODE_IP), where the API server, the kubelet and the test registry listen, since a Pod's 127.0.0.1 is the
// Pod itself; Pods get addresses from a second bridge (POD_CIDR) made by the CNI bridge plugin. Forwarding
// of Pod traffic is dropped, so a Pod reaches this host's addresses (the API server through the kubernetes
// Service, which kube-proxy translates, and the registry) and other Pods on the bridge, never another host.
// stop() removes Pods, processes, mounts, bridges and iptables rules again; an exit hook does it too.
import { execFileSync, type ExecFileSyncOptions } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crane } from '../../support/images.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { startCluster, type Cluster } from '../../e2e/harness/cluster.js';
import { ManagedProcess, freePort, toolPath, waitFor } from '../../e2e/harness/process.js';

export const NODE_BRIDGE = 'pvn-node0';
export const POD_BRIDGE = 'pvn-cni0';
export const NODE_IP = '10.200.0.1';
const NODE_CIDR = `${NODE_IP}/24`;
export const POD_CIDR = '10.201.0.0/24';
const SERVICE_CIDR = '10.0.0.0/24'; // the e2e harness's; 10.0.0.1 is the kubernetes Service
const KUBERNETES_SERVICE_IP = '10.0.0.1';
export const NODE_NAME = 'provenant-node';
const FORWARD_RULE = ['FORWARD', '-s', POD_CIDR, '!', '-d', POD_CIDR, '-j', 'DROP'];

export interface Node {
  readonly cluster: Cluster;
  /** A plain registry on NODE_IP that containerd pulls from and Pods reach. */
  readonly registry: TestRegistry;
  readonly dir: string;
  /** Log files of the node components, for failure messages. */
  logTail(
    component: 'kubelet' | 'containerd' | 'kube-controller-manager' | 'kube-scheduler' | 'kube-proxy',
  ): string;
  stop(): Promise<void>;
}

function sh(cmd: string, args: string[], options: ExecFileSyncOptions = {}): string {
  return execFileSync(cmd, args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    ...options,
  }) as string;
}
function trySh(cmd: string, args: string[]): void {
  try {
    sh(cmd, args);
  } catch {
    // cleanup: already gone
  }
}

/** Why this machine cannot run a node, or undefined when it can (root, Linux, the tools installed). */
export function nodeUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root';
  for (const bin of ['containerd', 'runc', 'ctr', 'iptables', 'ip', '/usr/lib/cni/bridge']) {
    try {
      if (bin.startsWith('/')) {
        if (!existsSync(bin)) return `${bin} is missing (test/tools/install-cluster-tools.sh)`;
      } else sh('sh', ['-c', `command -v ${bin}`]);
    } catch {
      return `${bin} is missing (test/tools/install-cluster-tools.sh)`;
    }
  }
  for (const t of ['kubelet', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy', 'pause']) {
    try {
      toolPath(t);
    } catch (e) {
      return (e as Error).message;
    }
  }
  return undefined;
}

function containerdConfig(dir: string, registryHost: string): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return `version = 2
root = "${dir}/containerd/root"
state = "${dir}/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "${dir}/containerd.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/containerd/opt"
[${cri}]
  sandbox_image = "${registryHost}/pause:3.10"
  enable_selinux = false
  restrict_oom_score_adj = true
[${cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[${cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
[${cri}.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "${dir}/cni/net.d"
[${cri}.registry.mirrors."${registryHost}"]
  endpoint = ["http://${registryHost}"]
`;
}

function cniConfig(dir: string): string {
  return JSON.stringify({
    cniVersion: '0.4.0',
    name: 'provenant-pods',
    plugins: [
      {
        type: 'bridge',
        bridge: POD_BRIDGE,
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          dataDir: join(dir, 'cni/ipam'),
          ranges: [[{ subnet: POD_CIDR }]],
          routes: [{ dst: '0.0.0.0/0' }],
        },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  });
}

function kubeletConfig(dir: string, cluster: Cluster): string {
  return JSON.stringify({
    kind: 'KubeletConfiguration',
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    address: NODE_IP,
    port: 10250,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: 0,
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: false },
      x509: { clientCAFile: join(cluster.dir, 'ca.crt') },
    },
    authorization: { mode: 'AlwaysAllow' },
    // This machine mounts cgroup v1 and runs no systemd for containers.
    cgroupDriver: 'cgroupfs',
    failCgroupV1: false,
    failSwapOn: false,
    containerRuntimeEndpoint: `unix://${dir}/containerd.sock`,
    // A small shared disk: never evict or collect images for lack of space during a test.
    evictionHard: {
      'memory.available': '50Mi',
      'nodefs.available': '1%',
      'imagefs.available': '1%',
      'nodefs.inodesFree': '1%',
    },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    serializeImagePulls: false,
    resolvConf: '',
    clusterDomain: 'cluster.local',
    podCIDR: POD_CIDR,
    maxPods: 30,
    nodeStatusUpdateFrequency: '4s',
    syncFrequency: '10s',
    fileCheckFrequency: '5s',
    volumeStatsAggPeriod: '0s',
    cgroupsPerQOS: true,
    enforceNodeAllocatable: [],
    protectKernelDefaults: false,
    makeIPTablesUtilChains: false,
    tlsCertFile: '',
    rotateCertificates: false,
    staticPodPath: '',
    logging: { format: 'text' },
  });
}

/** Pushes the pause image (test/tools/install-go-tools.sh pause) that the sandboxes run. */
async function pushPause(registry: TestRegistry, dir: string): Promise<void> {
  const root = join(dir, 'pause-root');
  mkdirSync(root, { recursive: true });
  sh('cp', [toolPath('pause'), join(root, 'pause')]);
  sh('tar', [
    '-C',
    root,
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '-cf',
    join(dir, 'pause.tar'),
    'pause',
  ]);
  const ref = `${registry.host}/pause:3.10`;
  await crane(registry, ['append', '-f', join(dir, 'pause.tar'), '-t', ref, '--platform', 'linux/amd64']);
  await crane(registry, ['mutate', ref, '--entrypoint', '/pause', '--user', '65535:65535', '-t', ref]);
}

const NETNS_DIR = '/var/run/netns';
const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';
const listNetns = () => (existsSync(NETNS_DIR) ? readdirSync(NETNS_DIR) : []);
/** What setUpNetwork found, to put back: the bridge plugin turns IP forwarding on for its gateway. */
let before: { ipForward: string; netns: Set<string> } | undefined;

function setUpNetwork(): void {
  before = { ipForward: readFileSync(IP_FORWARD, 'utf8').trim(), netns: new Set(listNetns()) };
  tearDownNetwork();
  sh('ip', ['link', 'add', NODE_BRIDGE, 'type', 'bridge']);
  sh('ip', ['addr', 'add', NODE_CIDR, 'dev', NODE_BRIDGE]);
  sh('ip', ['link', 'set', NODE_BRIDGE, 'up']);
  sh('iptables', ['-I', ...FORWARD_RULE]);
}

function tearDownNetwork(): void {
  if (before !== undefined) {
    // Pod network namespaces whose sandboxes were not removed in time.
    for (const ns of listNetns())
      if (!before.netns.has(ns) && ns.startsWith('cni-')) trySh('ip', ['netns', 'del', ns]);
    writeFileSync(IP_FORWARD, `${before.ipForward}\n`);
  }
  for (const bridge of [POD_BRIDGE, NODE_BRIDGE]) trySh('ip', ['link', 'del', bridge]);
  // The rule may have been inserted more than once by an interrupted run.
  for (let i = 0; i < 5; i++) {
    try {
      sh('iptables', ['-D', ...FORWARD_RULE]);
    } catch {
      break;
    }
  }
}

/** Kills the containerd shims (and their containers) that our containerd started, by process id. */
function killShims(socket: string): void {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmdline.startsWith('/usr/bin/containerd-shim') && cmdline.includes(socket)) {
      trySh('kill', ['-KILL', pid]);
    }
  }
}

/** Unmounts everything mounted below `dir` (deepest first). */
function unmountBelow(dir: string): void {
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1]?.replace(/\\040/g, ' '))
    .filter((m): m is string => m !== undefined && m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) trySh('umount', ['-l', m]);
}

/** Starts the node; resolves when the node is Ready and the kubernetes Service answers through kube-proxy. */
export async function startNode(): Promise<Node> {
  const why = nodeUnavailable();
  if (why !== undefined) throw new Error(`cannot run a node here: ${why}`);
  const dir = mkdtempSync(join(tmpdir(), 'provenant-node-'));
  const processes: ManagedProcess[] = [];
  let cluster: Cluster | undefined;
  let registry: TestRegistry | undefined;
  let containerd: ManagedProcess | undefined;
  const socket = join(dir, 'containerd.sock');
  const logs = (name: string) => join(dir, `${name}.log`);
  let stopped: Promise<void> | undefined;

  const cleanUp = async () => {
    // Pods first, while the kubelet can still tear down their sandboxes (CNI DEL frees veths and IPs).
    if (cluster !== undefined && processes.some((p) => p.name === 'kubelet' && p.running)) {
      await cluster.kubectl(
        ['delete', 'pods', '--all', '--all-namespaces', '--grace-period=0', '--force', '--wait=false'],
        {
          timeoutMs: 30_000,
        },
      );
      await waitFor(
        async () => (await cluster!.kubectl(['get', 'pods', '-A', '-o', 'name'])).stdout.trim() === '',
        { timeoutMs: 30_000, intervalMs: 1_000, description: 'Pods gone' },
      ).catch(() => undefined);
      // And their sandboxes, which the kubelet stops after the API objects are gone.
      await waitFor(
        () => {
          try {
            return sh('ctr', ['--address', socket, '-n', 'k8s.io', 'tasks', 'ls', '-q']).trim() === '';
          } catch {
            return true;
          }
        },
        { timeoutMs: 30_000, intervalMs: 500, description: 'sandboxes stopped' },
      ).catch(() => undefined);
    }
    for (const p of [...processes].reverse()) await p.stop(10_000);
    trySh(toolPath('kube-proxy'), ['--cleanup']);
    if (containerd !== undefined) {
      for (const ns of ['k8s.io']) {
        try {
          const ids = sh('ctr', ['--address', socket, '-n', ns, 'tasks', 'ls', '-q'])
            .split('\n')
            .filter(Boolean);
          for (const id of ids)
            trySh('ctr', ['--address', socket, '-n', ns, 'tasks', 'kill', '-s', 'SIGKILL', id]);
        } catch {
          // containerd not answering: the shims are killed below
        }
      }
      await containerd.stop(10_000);
    }
    killShims(socket);
    unmountBelow(dir);
    // Network namespaces of Pods whose sandboxes were not removed (containerd keeps them in /var/run/netns).
    tearDownNetwork();
    await registry?.stop();
    await cluster?.stop();
    if (process.env['PROVENANT_E2E_KEEP'] !== '1') rmSync(dir, { recursive: true, force: true });
  };
  const stop = () => (stopped ??= cleanUp());
  const onExit = () => {
    // Synchronous best effort when the test process dies with the node still up.
    for (const p of processes) p.killNow();
    containerd?.killNow();
    killShims(socket);
    unmountBelow(dir);
    tearDownNetwork();
    trySh(toolPath('kube-proxy'), ['--cleanup']);
  };
  process.once('exit', onExit);

  try {
    setUpNetwork();
    registry = await startRegistry({ address: NODE_IP });
    await pushPause(registry, dir);
    cluster = await startCluster({
      address: NODE_IP,
      extraSans: [KUBERNETES_SERVICE_IP],
      extraApiServerArgs: [
        // The kubernetes Service's endpoint is the node address, kept by the lease reconciler.
        '--endpoint-reconciler-type=lease',
        // Webhook Services are called at their endpoints' Pod addresses: no route to Service IPs is needed.
        '--enable-aggregator-routing=true',
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
      ],
    });
    const kubeconfig = cluster.kubeconfigPath;

    for (const d of ['containerd', 'cni/net.d', 'cni/ipam', 'kubelet', 'kubelet-certs']) {
      mkdirSync(join(dir, d), { recursive: true });
    }
    writeFileSync(join(dir, 'containerd.toml'), containerdConfig(dir, registry.host));
    writeFileSync(join(dir, 'cni/net.d/10-provenant.conflist'), cniConfig(dir));
    containerd = new ManagedProcess(
      'containerd',
      'containerd',
      ['--config', join(dir, 'containerd.toml')],
      logs('containerd'),
    );
    await waitFor(
      () => {
        if (!containerd!.running) throw new Error(`containerd exited:\n${containerd!.logTail()}`);
        return existsSync(socket);
      },
      { timeoutMs: 30_000, intervalMs: 200, description: 'containerd socket' },
    );

    writeFileSync(join(dir, 'kubelet.json'), kubeletConfig(dir, cluster));
    const start = (name: string, args: string[]) => {
      const p = new ManagedProcess(name, toolPath(name), args, logs(name));
      processes.push(p);
      return p;
    };
    const [kcmPort, schedPort, proxyHealth, proxyMetrics] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    start('kube-controller-manager', [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${kcmPort}`,
      '--leader-elect=false',
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${join(cluster.dir, 'sa.key')}`,
      `--root-ca-file=${join(cluster.dir, 'ca.crt')}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      '--controllers=*,-nodeipam,-cloud-node-lifecycle,-service,-route',
      '--v=1',
    ]);
    start('kube-scheduler', [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${schedPort}`,
      '--leader-elect=false',
      '--v=1',
    ]);
    const kubelet = start('kubelet', [
      `--config=${join(dir, 'kubelet.json')}`,
      `--kubeconfig=${kubeconfig}`,
      `--root-dir=${join(dir, 'kubelet')}`,
      `--cert-dir=${join(dir, 'kubelet-certs')}`,
      `--hostname-override=${NODE_NAME}`,
      `--node-ip=${NODE_IP}`,
      '--v=1',
    ]);
    start('kube-proxy', [
      `--kubeconfig=${kubeconfig}`,
      `--hostname-override=${NODE_NAME}`,
      '--proxy-mode=iptables',
      `--cluster-cidr=${POD_CIDR}`,
      `--healthz-bind-address=127.0.0.1:${proxyHealth}`,
      `--metrics-bind-address=127.0.0.1:${proxyMetrics}`,
      '--conntrack-max-per-core=0',
      '--v=1',
    ]);

    const c = cluster;
    await waitFor(
      async () => {
        for (const p of processes) {
          if (!p.running) throw new Error(`${p.name} exited with ${p.exitCode}:\n${p.logTail()}`);
        }
        const r = await c.kubectl([
          'get',
          'node',
          NODE_NAME,
          '-o',
          'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
        ]);
        return r.stdout.trim() === 'True';
      },
      { timeoutMs: 180_000, intervalMs: 1_000, description: `node ${NODE_NAME} Ready` },
    ).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\nkubelet log:\n${kubelet.logTail(30)}`);
    });
    // The default ServiceAccount of "default" comes from kube-controller-manager: proof that it runs.
    await waitFor(
      async () => (await c.kubectl(['get', 'serviceaccount', 'default', '-n', 'default'])).code === 0,
      {
        timeoutMs: 60_000,
        intervalMs: 1_000,
        description: 'the default ServiceAccount',
      },
    );
  } catch (e) {
    await stop();
    throw e;
  }

  const readyCluster = cluster;
  const readyRegistry = registry;
  return {
    cluster: readyCluster,
    registry: readyRegistry,
    dir,
    logTail(component) {
      try {
        return readFileSync(logs(component), 'utf8').split('\n').slice(-40).join('\n');
      } catch {
        return '';
      }
    },
    stop: async () => {
      await stop();
      process.removeListener('exit', onExit);
    },
  };
}
