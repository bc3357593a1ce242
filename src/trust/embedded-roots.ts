/**
 * The trusted roots Provenant ships, so keyless verification works air-gapped: the verifier never fetches
 * them and admission does no network I/O for trust. Refresh the JSON files from the TUF repositories
 * (`cosign trusted-root`, @sigstore/tuf) when keys rotate; TrustRoot objects with `tuf` do that at run time.
 *
 * embedded/public-good.trusted_root.json — Sigstore public good (Fulcio, Rekor v1 + v2, CT logs, TSA).
 *   Copied on 2026-11-26 from the team's shared fixtures (real/trusted-root/public-good/trusted_root.json):
 *   sigstore/sigstore-python `sigstore/_store/https%3A%2F%2Ftuf-repo-cdn.sigstore.dev/trusted_root.json` at
 *   commit 276c5e8f (2025-10-21), the TUF target of https://tuf-repo-cdn.sigstore.dev. Apache-2.0.
 *
 * embedded/github.trusted_root.json — GitHub's instance (private-repo artifact attestations: Fulcio + TSA,
 *   no tlogs or CT logs). Copied on 2026-11-26 from the shared fixtures (real/trusted-root/github/):
 *   kyverno/kyverno `pkg/image/verifiers/ivpol/cosign/testdata/github-trusted-root.json` at commit d2fd8e60
 *   (2026-07-22), produced by `gh attestation trusted-root` from https://tuf-repo.github.com and filtered to
 *   fulcio.githubapp.com. Apache-2.0.
 */
import github from './embedded/github.trusted_root.json' with { type: 'json' };
import publicGood from './embedded/public-good.trusted_root.json' with { type: 'json' };

export const PUBLIC_GOOD_TRUSTED_ROOT: unknown = publicGood;
export const GITHUB_TRUSTED_ROOT: unknown = github;
