# The Roost edge image: `docker build -t roost:0.1.0 .` (docs/deploy.md).
# Checked without a Docker engine by test/deploy/dockerfile.test.ts.

# Build: every dependency (TypeScript among them), the packages compiled to dist/, then the
# dev dependencies replaced by production ones, so the runtime stage copies one finished tree.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY packages ./packages
COPY services ./services
RUN npm ci --no-audit --no-fund
RUN npm run build
RUN rm -rf node_modules && npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# Runtime: production dependencies and dist/ only, owned by root and read-only to the node's
# user, so the container runs with readOnlyRootFilesystem (the node writes nothing to disk:
# logs go to stdout, state to Redis).
FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app /app
# Numeric, so Kubernetes' runAsNonRoot can verify it (the image's `node` user is 1000).
USER 1000:1000
# mqtt, tls, ws, wss, http (/healthz, /readyz, /metrics), cluster gRPC.
EXPOSE 1883 8883 8083 8084 8080 7946
# Node itself is PID 1: services/edge/src/main.ts handles SIGTERM and SIGINT (a drain), and the
# node starts no child processes to reap, so no init is needed. The command is `npm start`'s
# without npm, which would stand between the signal and the node. Arguments given to
# `docker run` are passed on as flags (`--mqtt-port 1884`).
ENTRYPOINT ["node", "--max-semi-space-size=8", "--no-maglev", "--conditions=roost-dist", "services/edge/dist/main.js"]
