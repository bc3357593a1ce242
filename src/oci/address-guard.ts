/**
 * Which network addresses Provenant may connect to for a registry. Image hosts are chosen by whoever creates
 * Pods, so without a check a Pod naming `169.254.169.254/x` (an image policy `**` covers) would make the
 * webhook send requests to the node's cloud metadata service. Addresses are checked when a connection is
 * made, after DNS resolution (the `lookup` given to net/tls.connect), so a name that resolves to a harmless
 * address at one moment and to a metadata address the next (DNS rebinding) is caught too; IP literals, which
 * Node connects to without a lookup, are checked before connecting.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP, SocketAddress } from 'node:net';
import type { buildConnector as BuildConnector } from 'undici';
import { buildConnector } from './undici-parts.js';
import { ProvenantError } from '../errors.js';

/** Ranges refused unless allowed: link-local (where cloud metadata services live) and known metadata hosts. */
export const REFUSED_REGISTRY_RANGES: readonly string[] = [
  '169.254.0.0/16', // IPv4 link-local: AWS, GCP, Azure, OpenStack, DigitalOcean metadata at 169.254.169.254
  '100.100.100.200/32', // Alibaba Cloud metadata
  '0.0.0.0/8', // "this network": 0.0.0.0 connects to the local host
  'fe80::/10', // IPv6 link-local
  'fd00:ec2::254/128', // AWS metadata over IPv6
  'fd20:ce::254/128', // GCP metadata over IPv6
  '::/128', // unspecified address, the local host like 0.0.0.0
  '64:ff9b::a9fe:0/112', // 169.254.0.0/16 through NAT64
  '::a9fe:0/112', // 169.254.0.0/16 as a (deprecated) IPv4-compatible IPv6 address
  '2002:a9fe::/32', // 6to4 addresses whose relay would be 169.254.x.x
];

export class RegistryAddressPolicy {
  readonly #refused = new BlockList();
  readonly #allowed = new BlockList();

  /**
   * `allowed`: CIDRs (or single addresses) connected to even inside a refused range. `refused` replaces the
   * default ranges (tests use it to refuse loopback, where their servers are).
   */
  constructor(allowed: readonly string[] = [], refused: readonly string[] = REFUSED_REGISTRY_RANGES) {
    for (const range of refused) addRange(this.#refused, range);
    for (const range of allowed) addRange(this.#allowed, range);
  }

  /** Whether connecting to `address` (an IP address) is refused. IPv4-mapped IPv6 counts as its IPv4. */
  refuses(address: string): boolean {
    const bare = unbracket(address);
    const family = isIP(bare);
    if (family === 0) return false;
    const type = family === 4 ? 'ipv4' : 'ipv6';
    return this.#refused.check(bare, type) && !this.#allowed.check(bare, type);
  }

  /** Throws REGISTRY_ADDRESS_REFUSED when `host` is an IP literal this policy refuses. */
  checkLiteral(host: string): void {
    if (this.refuses(host)) throw refusedError(unbracket(host), unbracket(host));
  }

  /**
   * A `lookup` for net.connect/tls.connect: resolves as dns.lookup does, then fails the connection with
   * REGISTRY_ADDRESS_REFUSED if any resolved address is refused (one bad answer is enough to refuse: the
   * connection may try them all).
   */
  readonly lookup = (
    hostname: string,
    options: LookupOptions,
    callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) {
        callback(err, []);
        return;
      }
      const refused = addresses.find((a) => this.refuses(a.address));
      if (refused !== undefined) {
        callback(refusedError(hostname, refused.address), []);
        return;
      }
      if (options.all === true) {
        callback(null, addresses);
        return;
      }
      const [first] = addresses;
      if (first === undefined) {
        callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), []);
        return;
      }
      callback(null, first.address, first.family);
    });
  };
}

/**
 * undici's connector with the address guard: resolved addresses are checked in `lookup` (each connection,
 * so DNS rebinding cannot slip past), IP literals (which are connected to without a lookup) before
 * connecting. Registry hosts and token realms both go through it.
 */
export function guardedConnector(
  addresses: RegistryAddressPolicy,
  tls: BuildConnector.BuildOptions,
): BuildConnector.connector {
  const connect = buildConnector({ ...tls, lookup: addresses.lookup } as BuildConnector.BuildOptions);
  return (options, callback) => {
    try {
      addresses.checkLiteral(options.hostname);
    } catch (err) {
      callback(err as Error, null);
      return;
    }
    // The socket is deliberately not returned. Given it, undici 8.13 cancels a connection attempt that no
    // request waits for any more (a stalled TLS handshake after a timeout) without a 'connectionError',
    // and its Agent then keeps that origin's empty pool forever, one per origin a Pod author names.
    // Not given it, the attempt runs to the connect timeout and the pool is dropped
    // (test/integration/oci/origins.test.ts).
    connect(options, callback);
  };
}

/** Parses `--allow-registry-address` values: an address or CIDR, IPv4 or IPv6. */
export function checkAddressRange(range: string): string | undefined {
  const parsed = parseAddressRange(range);
  return typeof parsed === 'string' ? parsed : undefined;
}

interface AddressRange {
  readonly address: string;
  readonly type: 'ipv4' | 'ipv6';
  /** Absent for a single address. */
  readonly prefix?: number;
}

/** The range, or why it is not one. */
function parseAddressRange(range: string): AddressRange | string {
  const [address = '', prefix, extra] = range.split('/');
  const family = literalFamily(address);
  if (family === 0 || extra !== undefined) return `"${range}" is not an IP address or CIDR`;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (prefix === undefined) return { address, type };
  const max = family === 4 ? 32 : 128;
  const bits = Number(prefix);
  if (!/^[0-9]+$/.test(prefix) || bits > max) return `"${range}" has an invalid prefix length (0 to ${max})`;
  return { address, type, prefix: bits };
}

function addRange(list: BlockList, range: string): void {
  const parsed = parseAddressRange(range);
  if (typeof parsed === 'string') throw new ProvenantError('INVALID_REQUEST', parsed);
  if (parsed.prefix === undefined) list.addAddress(parsed.address, parsed.type);
  else list.addSubnet(parsed.address, parsed.prefix, parsed.type);
}

/**
 * 4 or 6 for an IP address, 0 for anything else, by Node's native parser (what BlockList itself uses). Not
 * net.isIP: the first IPv6 check compiles a large regular expression, about 5 ms of every start of the CLI,
 * and the ranges built in at start-up include IPv6 ones.
 */
function literalFamily(address: string): 0 | 4 | 6 {
  const family = address.includes(':') ? 'ipv6' : 'ipv4';
  try {
    new SocketAddress({ address, family });
  } catch {
    return 0;
  }
  return family === 'ipv4' ? 4 : 6;
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function refusedError(host: string, address: string): ProvenantError {
  const what = host === address ? `address ${address}` : `${host} (resolved to ${address})`;
  return new ProvenantError(
    'REGISTRY_ADDRESS_REFUSED',
    `refusing to connect to ${what}: link-local and cloud metadata addresses are never contacted (--allow-registry-address allows a range)`,
  );
}
