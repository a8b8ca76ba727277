# One image for the broker and the operator; the command picks which.
#   docker build -t floe .
#   docker run -p 9092:9092 -p 9080:9080 floe                 # broker (the default command)
#   docker run floe dist/src/operator/main.js                 # operator (the chart sets this)
# test/packaging/image.test.ts replays this file without Docker (same stages, same steps,
# same file tree) and runs both entrypoints from the result: keep its steps simple enough
# to replay (relative paths in RUN, no shell in the final stage).
ARG NODE_VERSION=24

# Compiles TypeScript to dist/ with the dev dependencies (typescript), which never reach the image.
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY broker ./broker
RUN npx tsc -p tsconfig.build.json

# Production dependencies only, installed from the lock file; also the empty data folder,
# created here so the final stage needs no shell.
FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force && mkdir -p data

FROM node:${NODE_VERSION}-bookworm-slim
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="floe" \
      org.opencontainers.image.description="Stateless Kafka-compatible broker on object storage, and its Kubernetes operator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production \
    FLOE_DATA_DIR=/var/lib/floe
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# The only writable path is the data folder (a volume in Kubernetes), owned by the
# non-root user: the image runs with readOnlyRootFilesystem and runAsNonRoot.
COPY --from=deps --chown=10001:10001 /app/data /var/lib/floe
USER 10001:10001
VOLUME ["/var/lib/floe"]
# 9092 Kafka, 9080 broker /metrics /healthz /readyz, 8080 operator /metrics /healthz /readyz.
EXPOSE 9092 9080 8080
ENTRYPOINT ["node", "--enable-source-maps"]
CMD ["--initial-old-space-size=256", "dist/broker/main.js"]
