# syntax=docker/dockerfile:1
# Provenant's container image. Build: docker build -t provenant .
#
# Stage 1 type-checks and bundles with the full toolchain (npm ci, npm run build = tsc --noEmit, then
# esbuild bundles the CLI into dist/cli, see scripts/bundle.ts), then drops devDependencies. Stage 2 is a
# distroless Node.js 24 runtime with no shell, no package manager and no compiler: only dist/, the production
# node_modules and package.json (whose "type": "module" makes Node load dist/ as ES modules), owned by root
# and run as UID 65532.
#
# The base images are build arguments so that a build without access to Docker Hub or gcr.io can name
# stand-ins (see docs/image.md: `npm run image` builds them from Debian packages and Node from npm).

ARG BUILD_BASE=node:24-bookworm-slim
ARG RUNTIME_BASE=gcr.io/distroless/nodejs24-debian12:nonroot

FROM ${BUILD_BASE} AS build
WORKDIR /src
ENV npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
# Dependencies first: the layer is reused as long as the lock file does not change.
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/bundle.ts ./scripts/bundle.ts
# Type declarations and source maps of the dependencies are for editors and debuggers, not for running
# (about 40 MB of node_modules, mostly @kubernetes/client-node's).
RUN npm run build && npm prune --omit=dev \
 && find node_modules -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \) -delete

FROM ${RUNTIME_BASE}
WORKDIR /app
# The base image runs /nodejs/bin/node but does not put it on PATH; adding it lets the entrypoint say "node".
ENV NODE_ENV=production \
    PATH=/nodejs/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# nonroot is 65532:65532 in distroless; stated numerically so that runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8443
# A 4 MiB young generation: admissions allocate little that outlives them, and V8's default lets the young
# generation grow to tens of MiB under load and keep them (serve's RSS after a load test: 108-115 MiB instead
# of 235). 1 MiB kept 2-3 MiB less but cost 6-9 % more CPU per warm admission in scavenges. An old generation
# that grows 20 % past what a full GC leaves instead of up to 4x: the live heap is small, and a burst of 10,000
# verifications leaves 22-31 MiB more RSS instead of 37-52 (the burst takes more full GCs, about 10 % more
# CPU; warm admissions showed no difference). npm run bench measures serve with these flags.
ENTRYPOINT ["node", "--max-semi-space-size=4", "--heap-growing-percent=20", "dist/cli/main.js"]
